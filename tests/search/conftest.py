"""Shared runs: the 50-seed XOR search is run once per test session."""

import pytest

import initlab


@pytest.fixture(scope="session")
def xor50():
    """All four methods on XOR from glorot_uniform, run seeds 0-49, defaults."""
    return initlab.search("xor", "gd,sgd,annealing,genetic", 50)
