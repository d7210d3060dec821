"""Data-loader workers that draw from named streams of (run seed, epoch, worker id).

``torch.utils.data.DataLoader`` starts worker processes that inherit (with ``fork``)
or re-create the parent's global random state: unless something seeds them, two
workers can replay the same NumPy or Python random stream, and a run cannot be
repeated. :func:`worker_init_fn` seeds each worker's Python, NumPy and torch
generators from the stream ``(run_seed, "loader/epoch/<epoch>/worker/<id>/<gen>")``
and pins the worker to one torch thread; :func:`seeded_loader` builds a loader for
one epoch with it, its shuffling drawn from ``(run_seed, "loader/epoch/<epoch>/
order")``. Nothing reads or changes the parent's global random state.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from initlab import seeds

__all__ = ["seeded_loader", "worker_init_fn", "worker_seeds"]


def _check_epoch(epoch: object) -> int:
    return seeds.check_seed(epoch, "epoch")


def worker_seeds(run_seed: int, epoch: int, worker_id: int) -> dict[str, Any]:
    """The seeds a loader worker gets: for Python's ``random`` (a 128-bit int),
    NumPy's global ``RandomState`` (4 words) and torch (64 bits), each from its own
    stream of ``(run_seed, epoch, worker_id)``."""
    run_seed = seeds.check_seed(run_seed, "run_seed")
    epoch = _check_epoch(epoch)
    worker_id = seeds.check_seed(worker_id, "worker_id")
    name = f"loader/epoch/{epoch}/worker/{worker_id}"

    def draw(generator: str, words: int) -> np.ndarray:
        return seeds.stream(run_seed, f"{name}/{generator}").integers(
            2**32, size=words, dtype=np.uint64)

    python = draw("python", 4)
    torch_words = draw("torch", 2)
    return {
        "python": sum(int(word) << (32 * i) for i, word in enumerate(python)),
        "numpy": draw("numpy", 4).astype(np.uint32),
        "torch": (int(torch_words[0]) | int(torch_words[1]) << 32) & (2**63 - 1),
    }


def _seed_worker(run_seed: int, epoch: int, worker_id: int) -> None:
    values = worker_seeds(run_seed, epoch, worker_id)
    random.seed(values["python"])
    np.random.seed(values["numpy"])
    torch.manual_seed(values["torch"])
    torch.set_num_threads(1)  # one thread per worker: the parent's cores are shared


def worker_init_fn(run_seed: int, epoch: int) -> Callable[[int], None]:
    """A ``DataLoader`` ``worker_init_fn`` for epoch ``epoch`` of run ``run_seed``.

    Worker ``w`` seeds Python's ``random``, NumPy's global generator and torch from
    the streams of ``(run_seed, epoch, w)`` (see :func:`worker_seeds`), so no two
    workers share random state, each epoch draws anew, and the same run seed
    repeats every epoch exactly. It also pins the worker to one torch thread.

    Args:
        run_seed: The run's seed (a non-negative integer).
        epoch: The epoch the loader serves (a non-negative integer).

    Returns:
        A picklable callable taking the worker id.
    """
    return functools.partial(_seed_worker, seeds.check_seed(run_seed, "run_seed"),
                             _check_epoch(epoch))


def seeded_loader(dataset: Any, run_seed: int, epoch: int,
                  **kwargs: Any) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` over ``dataset`` for one epoch, seeded from the run seed.

    Its workers are seeded by :func:`worker_init_fn` and its shuffling (and the
    base seed torch gives the workers) come from a ``torch.Generator`` seeded from
    the stream ``(run_seed, "loader/epoch/<epoch>/order")``. Build one loader per
    epoch. With ``num_workers=0`` the items are loaded in this process, whose
    random state this function leaves alone.

    Args:
        dataset: A map-style or iterable dataset.
        run_seed: The run's seed.
        epoch: The epoch.
        **kwargs: Passed to ``DataLoader`` (``batch_size``, ``shuffle``,
            ``num_workers``, ...), except ``worker_init_fn`` and ``generator``,
            which this function sets, and ``persistent_workers=True``, which would
            keep the first epoch's workers and streams.

    Raises:
        ValueError: ``worker_init_fn``, ``generator`` or ``persistent_workers=True``
            given, or a bad seed or epoch.
    """
    for key in ("worker_init_fn", "generator"):
        if key in kwargs:
            raise ValueError(
                f"seeded_loader sets {key} itself (from the run seed and epoch); "
                f"drop {key}=..., or build the DataLoader yourself with "
                "initlab.torch.worker_init_fn."
            )
    if kwargs.get("persistent_workers"):
        raise ValueError(
            "seeded_loader seeds its workers for one epoch; persistent_workers=True "
            "would keep them, and their streams, for the next. Build one loader per "
            "epoch."
        )
    init = worker_init_fn(run_seed, epoch)
    order = seeds.stream(run_seed, f"loader/epoch/{epoch}/order")
    generator = torch.Generator().manual_seed(int(order.integers(2**63)))
    return torch.utils.data.DataLoader(dataset, worker_init_fn=init,
                                       generator=generator, **kwargs)
