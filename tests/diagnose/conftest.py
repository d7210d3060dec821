"""Shared settings of the diagnostics tests."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _single_threaded(one_thread):
    """Every module of this package runs on one thread (see tests/conftest.py)."""
    yield
