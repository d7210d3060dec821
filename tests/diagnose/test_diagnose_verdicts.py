"""The verdicts of issue 5 on the deep networks of the textbook experiments.

A 50-layer ReLU MLP of width 256 with zero biases, fed 512 standard-normal inputs
(Glorot and Bengio 2010, He et al. 2015): He keeps the activation scale, Glorot
halves the variance at every layer, N(0, 1) weights blow it up, zeros make every
unit the same; a 10-layer tanh MLP with N(0, 1) weights saturates.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch
from torch import nn

from initlab.diagnostics import build_case, diagnose

DEPTH, WIDTH, BATCH = 50, 256, 512
NORMAL_1 = {"class_name": "RandomNormal", "config": {"stddev": 1.0}}


def relu_mlp(init, seed=0):
    return build_case(
        "mlp",
        depth=DEPTH,
        width=WIDTH,
        activation="relu",
        init=init,
        seed=seed,
        batch_size=BATCH,
    )


def last_over_first(report):
    return report.layers[-1].act_std / report.layers[0].act_std


@pytest.fixture(scope="module")
def he_reports():
    return [diagnose(*relu_mlp("he_normal", seed)) for seed in range(10)]


@pytest.fixture(scope="module")
def glorot():
    return diagnose(*relu_mlp("glorot_normal"))


def test_the_network_is_the_one_of_the_criteria():
    model, batch = relu_mlp("he_normal")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == DEPTH
    assert all(m.weight.shape == (WIDTH, WIDTH) for m in linears)
    assert all(torch.count_nonzero(m.bias) == 0 for m in linears)
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == DEPTH
    assert batch.shape == (BATCH, WIDTH) and batch.dtype == torch.float32
    assert abs(float(batch.mean())) < 0.01 and abs(float(batch.std()) - 1) < 0.01


def test_he_normal_keeps_the_scale_and_is_healthy(he_reports):
    ratios = [last_over_first(report) for report in he_reports]
    # Observed: median 0.94 (0.58 ... 1.60 over seeds 0-9).
    assert 0.25 <= statistics.median(ratios) <= 4
    assert [report.verdict for report in he_reports] == ["healthy"] * 10
    assert all(report.first_bad_layer is None for report in he_reports)
    assert he_reports[0].suggestion == "he_normal"


def test_glorot_normal_halves_the_variance_at_every_layer(glorot):
    assert last_over_first(glorot) < 1e-4  # observed 5.4e-08
    assert glorot.verdict == "vanishing"
    # Var(W) = 1 / fan_avg = 1 / 256 and ReLU halves the second moment: the mean
    # variance ratio from one layer to the next is 1/2.
    variance_ratios = [row.std_ratio**2 for row in glorot.layers[1:]]
    assert math.exp(np.mean(np.log(variance_ratios))) == pytest.approx(0.5, rel=0.1)


def test_glorot_normal_names_the_first_bad_layer_and_suggests_he(glorot):
    first = glorot.layers[0].act_std
    expected = next(r.name for r in glorot.layers if r.act_std / first <= 1e-4)
    assert glorot.first_bad_layer == expected == "fc29"
    assert glorot.suggestion.startswith("he_")
    assert glorot.activation == "relu"
    assert "vanish" in glorot.gradient_note


def test_random_normal_stddev_1_explodes():
    report = diagnose(*relu_mlp(NORMAL_1))
    assert report.verdict == "exploding"
    # Each layer multiplies the std by sqrt(256 / 2) = 11.3: x1e4 from the first at fc5,
    # then float32 overflows.
    assert report.first_bad_layer == "fc5"
    assert any(row.nonfinite_fraction > 0 for row in report.layers)
    assert report.suggestion == "he_normal"


def test_zeros_are_symmetric_and_every_unit_is_identical():
    model, batch = relu_mlp("zeros")
    report = diagnose(model, batch)
    assert report.verdict == "symmetric"
    assert report.first_bad_layer == "fc1"
    assert all(row.symmetric for row in report.layers)
    outputs = []
    hooks = [
        m.register_forward_hook(lambda m, a, o: outputs.append(o.detach()))
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.ReLU))
    ]
    with torch.no_grad():
        model(batch)
    for hook in hooks:
        hook.remove()
    assert len(outputs) == 2 * DEPTH
    for out in outputs:  # every unit (column) equals the first, for every input
        assert torch.equal(out, out[:, :1].expand_as(out))


def test_tanh_with_random_normal_stddev_1_saturates():
    model, batch = build_case(
        "mlp", depth=10, width=WIDTH, activation="tanh", init=NORMAL_1, batch_size=BATCH
    )
    report = diagnose(model, batch)
    assert report.verdict == "saturated"
    assert report.first_bad_layer == "fc1"
    fractions = [row.saturated_fraction for row in report.layers]
    assert all(fraction > 0.5 for fraction in fractions)  # observed 0.86-0.87
    assert np.mean(fractions) > 0.5  # of all activation values (equal-sized layers)
    assert report.suggestion == "glorot_uniform"
