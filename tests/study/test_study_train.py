"""One run: reproducible, isolated from global state, honest about divergence."""

import numpy as np
import pytest
import torch

import initlab
import initlab.torch
from initlab.study import datasets, train
from initlab.study.models import build_model
from initlab.study.spec import StudySpec
from initlab.study.train import train_run


def _run(init="glorot_uniform", seed=0, **kwargs):
    kwargs.setdefault("epochs", 2)
    return StudySpec(inits=(init,), seeds=1, seed=seed, **kwargs).runs()[0]


def test_a_run_repeats_bit_for_bit():
    first, second = train_run(_run()), train_run(_run())
    assert first.status == second.status == "finished"
    assert first.fingerprint == second.fingerprint
    assert first.epochs == second.epochs  # exact float equality, every epoch


def test_a_run_learns():
    result = train_run(_run(epochs=3))
    assert [e.epoch for e in result.epochs] == [0, 1, 2, 3]
    assert result.final.test_acc > 0.8
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss


def test_fingerprint_is_that_of_the_initialized_model():
    run = _run("he_normal", seed=4)
    model = build_model("mlp", 64, 10, depth=2, width=64, activation="relu")
    initlab.torch.initialize(model, policy=initlab.get("he_normal"), seed=4)
    assert train_run(run).fingerprint == initlab.torch.fingerprint(model)


def test_global_rng_and_thread_count_are_left_alone():
    before_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        state = torch.get_rng_state()
        result = train_run(_run(epochs=1))
        assert torch.equal(state, torch.get_rng_state())
        assert torch.get_num_threads() == 2
        assert result.threads == 1
    finally:
        torch.set_num_threads(before_threads)


def test_training_runs_on_one_thread(monkeypatch):
    seen = []
    original = train.initialize_model

    def spy(run, dataset):
        seen.append(torch.get_num_threads())
        return original(run, dataset)

    monkeypatch.setattr(train, "initialize_model", spy)
    train_run(_run(epochs=0))
    assert seen == [1]


def test_data_order_depends_on_the_seed_not_the_initializer(monkeypatch):
    calls = []
    original = datasets.epoch_order

    def spy(seed, epoch, n):
        order = original(seed, epoch, n)
        calls.append((seed, epoch, order.copy()))
        return order

    monkeypatch.setattr(train, "epoch_order", spy)
    glorot, zeros, other = (train_run(_run("glorot_uniform", 0)),
                            train_run(_run("zeros", 0)),
                            train_run(_run("glorot_uniform", 1)))
    assert glorot.data_hash == zeros.data_hash != other.data_hash
    first, second, third = calls[0:2], calls[2:4], calls[4:6]
    for a, b in zip(first, second, strict=True):
        assert a[:2] == b[:2] and np.array_equal(a[2], b[2])
    assert [c[:2] for c in third] == [(1, 1), (1, 2)]
    assert not np.array_equal(first[0][2], third[0][2])


def test_a_nan_loss_is_recorded_as_diverged_and_stops_training():
    run = _run({"class_name": "RandomNormal", "config": {"stddev": 1e6}},
               optimizer="sgd", lr=0.01, epochs=5)
    result = train_run(run)
    assert result.status == "diverged"
    assert result.error is None
    assert len(result.epochs) < 6  # stopped at the divergent epoch
    last = result.final
    assert last.train_loss is None and last.test_acc is None


def test_an_exception_is_a_failed_run(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(train, "build_model", broken)
    result = train_run(_run())
    assert result.status == "failed"
    assert result.error.startswith("RuntimeError: out of cheese")
    assert "Traceback" in result.error


def test_zero_epochs_evaluates_the_initial_model():
    result = train_run(_run(epochs=0))
    assert result.status == "finished"
    assert [e.epoch for e in result.epochs] == [0]
    assert 0.0 <= result.final.test_acc <= 1.0


@pytest.mark.parametrize("init", ["keras", "torch", "identity", "orthogonal"])
def test_policies_and_structured_initializers_train(init):
    assert train_run(_run(init, epochs=1)).status == "finished"
