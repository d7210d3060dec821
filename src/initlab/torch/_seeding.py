"""Seeding the global generators, for code initlab does not control."""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from initlab import seeds


def seed_everything(
    seed: int, *, threads: int | None = None, deterministic: bool = True
) -> dict[str, Any]:
    """Seed Python's, NumPy's and PyTorch's global generators from one seed.

    initlab itself never reads global random state; this is for the code around it
    (data augmentation, dropout, third-party layers). Each generator gets its own
    value derived from the stream of (seed, generator name), so they are not
    correlated.

    Args:
        seed: A non-negative integer.
        threads: If given, pin PyTorch's intra-op threads (and ``OMP_NUM_THREADS``,
            ``MKL_NUM_THREADS`` for processes started later) to this count:
            floating-point sums depend on it. Defaults to None (unchanged).
        deterministic: Switch on ``torch.use_deterministic_algorithms`` and set
            ``CUBLAS_WORKSPACE_CONFIG`` as CUDA needs. Defaults to True.

    Returns:
        What was set: the seed of each generator, the deterministic switch and the
        thread counts.
    """
    seed = seeds.check_seed(seed)
    derived = {
        name: int(seeds.stream(seed, f"seed_everything/{name}").integers(2**32))
        for name in ("python", "numpy", "torch")
    }
    random.seed(derived["python"])
    np.random.seed(derived["numpy"])
    torch.manual_seed(derived["torch"])
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(
                f"`threads` must be a positive integer. Received: threads={threads!r}."
            )
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    return {
        "seed": seed,
        "python_seed": derived["python"],
        "numpy_seed": derived["numpy"],
        "torch_seed": derived["torch"],
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "env": {
            key: os.environ.get(key)
            for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG")
        },
    }
