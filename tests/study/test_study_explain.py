"""The deterministic-versus-stochastic demonstration: its claims, checked."""

import pytest
import torch

from initlab.study import explain as explain_module
from initlab.study.explain import WIDTH, _distinct_units, explain
from initlab.study.models import build_model
from initlab.torch import initialize


@pytest.fixture(scope="module")
def shown():
    return explain()


def test_full_batch_gradient_descent_repeats_exactly(shown):
    assert len(shown.gd_fingerprints) == explain_module.GD_REPEATS >= 2
    assert shown.gd_identical and len(set(shown.gd_acc)) == 1
    assert shown.gd_fingerprints[0] != shown.gd_start  # it did train
    assert shown.gd_acc[0] > 0.5


def test_data_order_alone_gives_a_distribution(shown):
    assert shown.sgd_distinct == len(shown.sgd_seeds) >= 5
    assert len(set(shown.sgd_acc)) > 1
    assert max(shown.sgd_acc) - min(shown.sgd_acc) > 0


def test_zeros_never_break_symmetry(shown):
    assert shown.zero_symmetric
    assert shown.zero_distinct_units == (1,) * len(shown.zero_seeds)
    # the counter does see distinct units when they exist
    model = build_model("mlp", 64, 10, depth=1, width=WIDTH, activation="tanh")
    initialize(model, policy="glorot_uniform", seed=0)
    assert _distinct_units(model) == WIDTH
    with torch.no_grad():
        model.hidden1.weight[1] = model.hidden1.weight[0]
        model.hidden1.bias[1] = model.hidden1.bias[0]
        model.output.weight[:, 1] = model.output.weight[:, 0]
    assert _distinct_units(model) == WIDTH - 1


def test_the_demonstration_repeats_itself(shown):
    assert explain() == shown


def test_the_section_states_the_claims(shown):
    text = "\n".join(shown.markdown())
    assert "1 distinct model(s)" in text and "deterministic" in text
    assert f"{shown.sgd_distinct} distinct models" in text
    assert "no seed breaks the symmetry" in text
    assert text.count("|") >= 12
