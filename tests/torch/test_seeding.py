"""seed_everything seeds every global generator and says what it set."""

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

import initlab


@pytest.fixture
def restore_global_state():
    py, npy, tt = random.getstate(), np.random.get_state(), torch.get_rng_state()
    det, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    yield
    random.setstate(py)
    np.random.set_state(npy)
    torch.set_rng_state(tt)
    torch.use_deterministic_algorithms(det)
    torch.set_num_threads(threads)


def _draws():
    return random.random(), float(np.random.random()), float(torch.rand(1))


def test_same_seed_same_global_draws(restore_global_state):
    initlab.seed_everything(4)
    first = _draws()
    initlab.seed_everything(4)
    assert _draws() == first
    initlab.seed_everything(5)
    assert _draws() != first


def test_returns_what_it_set(restore_global_state):
    info = initlab.seed_everything(7, threads=1)
    assert info["deterministic_algorithms"] is True
    assert torch.are_deterministic_algorithms_enabled()
    assert info["torch_threads"] == torch.get_num_threads() == 1
    assert len({info["python_seed"], info["numpy_seed"], info["torch_seed"]}) == 3
    assert info["env"]["OMP_NUM_THREADS"] == "1"


def test_same_in_a_new_process(restore_global_state):
    code = (
        "import initlab, random, numpy, torch; initlab.seed_everything(9); "
        "print(random.random(), numpy.random.random(), float(torch.rand(1)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    initlab.seed_everything(9)
    assert [float(x) for x in out] == list(_draws())


@pytest.mark.parametrize("bad, error", [(-1, ValueError), ("1", TypeError)])
def test_bad_seed(bad, error, restore_global_state):
    with pytest.raises(error, match="seed"):
        initlab.seed_everything(bad)


def test_bad_threads(restore_global_state):
    with pytest.raises(ValueError, match="threads=0"):
        initlab.seed_everything(1, threads=0)
