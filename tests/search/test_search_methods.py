"""Each method: budget accounting, determinism, and the prefix property."""

import random

import numpy as np
import pytest

import initlab
from initlab.search import DEFAULT_SETTINGS, METHODS, Network, get_problem
from initlab.search._methods import Start, run_method
from initlab.search._search import _settings

XOR = get_problem("xor")
GLOROT = initlab.get("glorot_uniform")


def _run(method, budget, seeds=range(6), attempt=0, problem=XOR):
    starts = [Start(s, attempt) for s in seeds]
    return run_method(
        method, problem, GLOROT, starts, budget, _settings(method, problem, None)
    )


@pytest.fixture
def counted(monkeypatch):
    """Count evaluations as the budget rule does: 1 per full-batch loss or
    gradient, m / n per minibatch gradient."""
    spent = {"evals": 0.0}
    loss, loss_and_grad = Network.loss, Network.loss_and_grad

    def counting_loss(self, theta, x, y):
        spent["evals"] += theta.shape[0]
        return loss(self, theta, x, y)

    def counting_grad(self, theta, x, y):
        fraction = x.shape[-2] / XOR.n_examples if x.ndim == 3 else 1.0
        spent["evals"] += theta.shape[0] * fraction
        return loss_and_grad(self, theta, x, y)

    monkeypatch.setattr(Network, "loss", counting_loss)
    monkeypatch.setattr(Network, "loss_and_grad", counting_grad)
    return spent


@pytest.mark.parametrize("method", ["gd", "annealing", "genetic"])
def test_every_evaluation_is_charged_and_the_budget_holds(method, counted):
    runs = _run(method, budget=150)
    assert np.all(runs.evals_used <= 150)
    assert counted["evals"] == pytest.approx(runs.evals_used.sum())


def test_sgd_is_charged_per_minibatch_and_checks_success_for_free(counted):
    runs = _run("sgd", budget=150)
    assert np.all(runs.evals_used <= 150)
    epochs = sum(len(evals) for evals, _ in runs.curves)
    # One free full-batch loss per run and epoch (batch size 1 on 4 examples).
    assert counted["evals"] == pytest.approx(runs.evals_used.sum() + epochs)


@pytest.mark.parametrize("method", list(METHODS))
def test_a_run_repeats_bit_for_bit(method):
    first, second = _run(method, 300), _run(method, 300)
    np.testing.assert_array_equal(first.evals_to_success, second.evals_to_success)
    np.testing.assert_array_equal(first.final_loss, second.final_loss)
    for (e1, l1), (e2, l2) in zip(first.curves, second.curves, strict=True):
        np.testing.assert_array_equal(e1, e2)
        np.testing.assert_array_equal(l1, l2)


@pytest.mark.parametrize("method", list(METHODS))
def test_a_shorter_budget_is_a_prefix_of_a_longer_one(method):
    # Restarts count attempt 0 as the single run cut short; this must be exact.
    long, short = _run(method, 600, seeds=range(12)), _run(method, 150, seeds=range(12))
    expected = np.where(long.evals_to_success <= 150, long.evals_to_success, np.inf)
    np.testing.assert_array_equal(short.evals_to_success, expected)


@pytest.mark.parametrize("method", list(METHODS))
def test_a_seed_runs_the_same_alone_or_beside_others(method):
    together, alone = _run(method, 200, seeds=range(5)), _run(method, 200, seeds=[3])
    assert together.final_loss[3] == alone.final_loss[0]
    assert together.evals_to_success[3] == alone.evals_to_success[0]


@pytest.mark.parametrize("method", ["sgd", "annealing", "genetic"])
def test_restarts_and_seeds_move_differently(method):
    base, restart = (
        _run(method, 100, seeds=[0]),
        _run(method, 100, seeds=[0], attempt=1),
    )
    other = _run(method, 100, seeds=[1])
    assert base.final_loss[0] != restart.final_loss[0]
    assert base.final_loss[0] != other.final_loss[0]


def test_the_genetic_algorithm_leaves_python_random_as_it_was():
    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    _run("genetic", 100, seeds=[0])
    assert random.random() == expected


def test_gd_answers_with_its_last_evaluated_loss():
    runs = _run("gd", 2000, seeds=range(10))
    for (evals, losses), final, solved in zip(
        runs.curves, runs.final_loss, runs.evals_to_success, strict=True
    ):
        assert final == losses[-1]
        if np.isfinite(solved):
            assert evals[-1] == solved and final < XOR.threshold
            assert np.all(losses[:-1] >= XOR.threshold)


def test_default_settings_cover_every_method():
    assert set(DEFAULT_SETTINGS) == set(METHODS)
