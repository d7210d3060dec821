"""Shared settings of the diagnostics tests."""

import contextlib

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run each module on one torch and one BLAS thread.

    The numbers tested do not depend on the thread count; on a busy 2-core machine
    two spinning threads per library make these tests several times slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(1)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with limits:
        yield
    torch.set_num_threads(before)
