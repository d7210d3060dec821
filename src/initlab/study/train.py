"""One training run: initialize, train, evaluate each epoch, report.

A run is bitwise reproducible on CPU: torch runs on one thread while it trains (the
caller's thread count is restored afterwards), the initial weights come from
``initlab.torch.initialize`` with the run seed, and the data order from the run
seed's own streams (:func:`initlab.study.datasets.epoch_order`). The global torch
RNG is neither read nor changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from initlab.study.datasets import Dataset, epoch_order, load_dataset
from initlab.study.models import build_model
from initlab.study.spec import RunSpec

__all__ = [
    "EpochMetrics",
    "RunResult",
    "group_key",
    "initialize_model",
    "pinned_threads",
    "thread_settings",
    "train_group",
    "train_recorded",
    "train_run",
]

#: Threads torch uses while a run trains: one, so sums never depend on the machine.
RUN_THREADS = 1


@dataclass(frozen=True)
class EpochMetrics:
    """Metrics after one epoch; epoch 0 is the model before training.

    ``train_loss`` is the mean cross-entropy of the epoch's steps, weighted by batch
    size (epoch 0: the loss on the whole training set). None stands for a value
    that is not finite, or was not measured because the run diverged.
    """

    epoch: int
    train_loss: float | None
    test_loss: float | None
    test_acc: float | None


@dataclass
class RunResult:
    """What one run produced.

    Attributes:
        run_id: The run's id.
        status: ``finished``, ``diverged`` (a loss became NaN or infinite; training
            stopped at that epoch) or ``failed`` (an exception; see ``error``).
        fingerprint: ``initlab.torch.fingerprint`` of the initial weights.
        final_fingerprint: The same of the weights at the end of training: equal
            bit for bit wherever the run is repeated at the same thread count.
        data_hash: A hash of the run's train/test split and epoch orders.
        epochs: One entry per evaluated epoch, from 0.
        error: The exception and traceback of a failed run.
        duration_s: Wall time of the run in seconds (not part of its results).
        threads: torch's intra-op thread count during training.
        interop_threads: torch's inter-op thread count.
        omp_num_threads: ``OMP_NUM_THREADS`` in the process that trained the run
            (None: unset).
        mkl_num_threads: ``MKL_NUM_THREADS`` there (None: unset).
        mode: ``sequential`` (one model) or ``batched`` (trained with the other
            seeds of its group as one batched model, :func:`train_group`).
        batch_seeds: The run seeds of a batched run's group, in member order.
    """

    run_id: str
    status: str
    fingerprint: str | None = None
    final_fingerprint: str | None = None
    data_hash: str | None = None
    epochs: list[EpochMetrics] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0
    threads: int = RUN_THREADS
    interop_threads: int = 1
    omp_num_threads: str | None = None
    mkl_num_threads: str | None = None
    mode: str = "sequential"
    batch_seeds: tuple[int, ...] | None = None

    @property
    def final(self) -> EpochMetrics | None:
        """The last epoch's metrics; None for a run without any."""
        return self.epochs[-1] if self.epochs else None


@contextlib.contextmanager
def pinned_threads(threads: int = RUN_THREADS) -> Iterator[None]:
    """Run the block with torch on ``threads`` intra-op threads, then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def thread_settings() -> dict[str, object]:
    """This process's thread settings, as a run records them: torch's intra-op and
    inter-op thread counts and the ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``
    variables (None when unset)."""
    return {
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "mkl_num_threads": os.environ.get("MKL_NUM_THREADS"),
    }


def initialize_model(run: RunSpec, dataset: Dataset) -> tuple[nn.Module, str]:
    """Build the run's model and initialize it with the run's entry and init seed.

    Returns:
        The model and the fingerprint of its initial parameters.

    Raises:
        ValueError, TypeError: the entry cannot initialize some parameter.
    """
    from initlab.torch import (
        fingerprint,
        initialize,
        initialize_lsuv,
        lsuv_policy_applies,
    )

    model = build_model(run.model, dataset.n_features, dataset.n_classes,
                        depth=run.depth, width=run.width, activation=run.activation,
                        input_shape=dataset.shape, input_kind=dataset.kind)
    if lsuv_policy_applies(run.init):  # keras policy, then LSUV on training inputs
        initialize_lsuv(model, torch.from_numpy(dataset.x_train.copy()),
                        seed=run.init_seed)
    else:
        initialize(model, policy=run.init.value, seed=run.init_seed)
    return model, fingerprint(model)


def _fingerprint(model: nn.Module) -> str:
    from initlab.torch import fingerprint

    return fingerprint(model)


def _optimizer(run: RunSpec, params: Iterable[torch.Tensor],
               fused: bool = False) -> torch.optim.Optimizer:
    """The run's optimizer. ``fused``: PyTorch's fused kernel (one call for all
    parameters), used by batched training, whose few stacked tensors it suits."""
    options = {"fused": True} if fused else {}
    if run.optimizer == "sgd":
        return torch.optim.SGD(params, lr=run.lr, momentum=run.momentum, **options)
    return torch.optim.Adam(params, lr=run.lr, **options)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor,
              y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    loss = F.cross_entropy(logits, y).item()
    correct = int((logits.argmax(dim=1) == y).sum().item())
    return loss, correct / len(y)


def _error_text(exc: BaseException) -> str:
    lines = traceback.format_exception(exc)
    return f"{type(exc).__name__}: {exc}\n{''.join(lines)}"


def train_run(run: RunSpec, threads: int = RUN_THREADS) -> RunResult:
    """Train ``run`` and return its result; never raises for a failing run.

    An exception inside the run gives status ``failed`` with its traceback; a loss
    (train or test) that becomes NaN or infinite gives ``diverged`` and stops
    training at that epoch.

    Args:
        run: The run.
        threads: torch's intra-op threads while it trains (the caller's count is
            restored afterwards). Sums, and so the last bits of every result,
            depend on it. Defaults to :data:`RUN_THREADS`.
    """
    started = time.perf_counter()
    result = RunResult(run.run_id, "failed")
    try:
        with pinned_threads(threads):
            _record_threads(result)
            _train(run, result)
    except Exception as exc:  # a run failing is a result, not a crash of the study
        result.status = "failed"
        result.error = _error_text(exc)
    result.duration_s = time.perf_counter() - started
    return result


def _record_threads(result: RunResult) -> None:
    for key, value in thread_settings().items():
        setattr(result, key, value)


def _tensors(dataset: Dataset) -> tuple[torch.Tensor, ...]:
    """``x_train, y_train, x_test, y_test`` as (writable) tensors."""
    return tuple(torch.from_numpy(array.copy()) for array in
                 (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test))


def _split_hash(dataset: Dataset) -> hashlib._Hash:
    """A SHA-256 of the split, which each epoch's order is then added to."""
    data_hash = hashlib.sha256()
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        data_hash.update(array.tobytes())
    return data_hash


def _train(run: RunSpec, result: RunResult) -> None:
    dataset = load_dataset(run.data_key, run.split_seed)
    x_train, y_train, x_test, y_test = _tensors(dataset)
    data_hash = _split_hash(dataset)

    model, result.fingerprint = initialize_model(run, dataset)
    optimizer = _optimizer(run, model.parameters())
    n_train, batch = len(y_train), run.batch_size

    train_loss, _ = _evaluate(model, x_train, y_train)
    test_loss, test_acc = _evaluate(model, x_test, y_test)
    for epoch in range(run.epochs + 1):
        if epoch > 0:
            order = epoch_order(run.order_seed, epoch, n_train)
            data_hash.update(order.tobytes())
            index = torch.from_numpy(order)
            xs, ys = x_train[index], y_train[index]
            total = 0.0
            for start in range(0, n_train, batch):
                xb, yb = xs[start : start + batch], ys[start : start + batch]
                loss = F.cross_entropy(model(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * len(yb)
            train_loss = total / n_train
            if math.isfinite(train_loss):
                test_loss, test_acc = _evaluate(model, x_test, y_test)
            else:
                test_loss = math.nan
        if not (math.isfinite(train_loss) and math.isfinite(test_loss)):
            result.epochs.append(
                EpochMetrics(epoch, _finite(train_loss), _finite(test_loss), None)
            )
            result.status = "diverged"
            break
        result.epochs.append(EpochMetrics(epoch, train_loss, test_loss, test_acc))
    else:
        result.status = "finished"
    result.data_hash = data_hash.hexdigest()[:16]
    result.final_fingerprint = _fingerprint(model)


# ------------------------------------------------------------------ batched seeds


def _cell(run: RunSpec) -> dict[str, object]:
    """The settings a batched group shares: all but the seeds."""
    settings = run.settings()
    for key in ("seed", "init_seed", "order_seed"):
        settings.pop(key, None)
    return settings


def group_key(run: RunSpec) -> str:
    """What the runs of one batched group share (their grid cell), as text."""
    return json.dumps(_cell(run), sort_keys=True, default=str)


def train_group(runs: Sequence[RunSpec], threads: int = RUN_THREADS) -> list[RunResult]:
    """Train runs of one grid cell (they differ in their seeds only) as one batched
    model; return one result per run, in order. Never raises for a failing run.

    Each member starts from the weights its solo run starts from (same
    fingerprint), visits the data in its own order (same ``data_hash``) and has its
    own optimizer state; the members' losses are summed, so each gets the gradient
    of its own loss. A member whose loss becomes NaN or infinite is ``diverged`` at
    that epoch, as in a solo run, while the others train on. The results repeat bit
    for bit for the same group and thread count, and match the solo runs
    (:func:`train_run`) within a tolerance (see ``docs/study.md``), not bit for
    bit: batched matrix products and PyTorch's fused optimizer round differently.
    An exception fails every run of the group with the same error.

    Args:
        runs: One or more runs, all of one cell, with distinct seeds.
        threads: As for :func:`train_run`.

    Raises:
        ValueError: ``runs`` is empty, mixes cells or repeats a seed.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("train_group needs at least one run.")
    cell = _cell(runs[0])
    for run in runs[1:]:
        if _cell(run) != cell:
            raise ValueError(
                f"Runs {runs[0].run_id} and {run.run_id} belong to different grid "
                "cells; a batched group holds the seeds of one cell."
            )
    group = tuple(run.seed for run in runs)
    if len(set(group)) != len(group):
        raise ValueError(f"A batched group repeats a seed: {list(group)}.")
    started = time.perf_counter()
    results = [RunResult(run.run_id, "failed", mode="batched", batch_seeds=group)
               for run in runs]
    try:
        with pinned_threads(threads):
            for result in results:
                _record_threads(result)
            _train_group(runs, results)
    except Exception as exc:  # a failing group is a result, as for one run
        error = _error_text(exc)
        for result in results:
            result.status, result.error, result.epochs = "failed", error, []
    share = (time.perf_counter() - started) / len(runs)
    for result in results:
        result.duration_s = share
    return results


def train_recorded(run: RunSpec, mode: str = "sequential",
                   group: Sequence[RunSpec] | None = None,
                   threads: int = RUN_THREADS) -> RunResult:
    """Train ``run`` again in the mode it was recorded with (for a replay).

    Args:
        run: The run.
        mode: Its recorded ``mode``: ``sequential`` or ``batched``.
        group: For a batched run, the runs of its recorded group (``batch_seeds``,
            in that order; ``run`` among them): the group is trained again and
            ``run``'s member returned, bit for bit what was recorded.
        threads: Its recorded thread count.

    Raises:
        ValueError: an unknown mode, or a batched run without its group.
    """
    if mode == "sequential":
        return train_run(run, threads)
    if mode != "batched":
        raise ValueError(f"Unknown training mode {mode!r}. Accepted: sequential, "
                         "batched.")
    ids = [member.run_id for member in group or ()]
    if run.run_id not in ids:
        raise ValueError(f"Replaying batched run {run.run_id} needs the runs of its "
                         "recorded group (batch_seeds), itself included.")
    return train_group(list(group), threads)[ids.index(run.run_id)]


def _train_group(runs: list[RunSpec], results: list[RunResult]) -> None:
    from initlab.study.batched import BatchedModels

    first = runs[0]
    dataset = load_dataset(first.data_key, first.split_seed)
    x_train, y_train, x_test, y_test = _tensors(dataset)
    hashes = [_split_hash(dataset) for _ in runs]
    models = []
    for run, result in zip(runs, results, strict=True):
        model, result.fingerprint = initialize_model(run, dataset)
        models.append(model)
    batched = BatchedModels(models)
    optimizer = _optimizer(first, batched.parameters(), fused=True)
    n_train, size = len(y_train), first.batch_size
    active = [True] * len(runs)

    train_loss, _ = _evaluate_group(batched, x_train, y_train)
    test_loss, test_acc = _evaluate_group(batched, x_test, y_test)
    for epoch in range(first.epochs + 1):
        if epoch > 0:
            orders = [epoch_order(run.order_seed, epoch, n_train) for run in runs]
            for member, order in enumerate(orders):
                if active[member]:
                    hashes[member].update(order.tobytes())
            index = torch.from_numpy(np.stack(orders))
            xs, ys = x_train[index], y_train[index]
            total = torch.zeros(len(runs), dtype=torch.float64)
            for start in range(0, n_train, size):
                xb, yb = xs[:, start : start + size], ys[:, start : start + size]
                losses = batched.train_step(optimizer, xb, yb)
                total += losses.double() * yb.shape[1]  # as a solo run's float sum
            train_loss = (total / n_train).tolist()
            test_loss, test_acc = _evaluate_group(batched, x_test, y_test)
        for member, result in enumerate(results):
            if not active[member]:
                continue
            train, test = train_loss[member], test_loss[member]
            if not math.isfinite(train):
                test = math.nan  # a solo run does not evaluate a diverged model
            if not (math.isfinite(train) and math.isfinite(test)):
                result.epochs.append(
                    EpochMetrics(epoch, _finite(train), _finite(test), None))
                result.status, active[member] = "diverged", False
            else:
                result.epochs.append(
                    EpochMetrics(epoch, train, test, test_acc[member]))
        if not any(active):
            break
    batched.write_back()  # each member's weights into its own model
    for member, result in enumerate(results):
        if active[member]:
            result.status = "finished"
        result.data_hash = hashes[member].hexdigest()[:16]
        result.final_fingerprint = _fingerprint(models[member])


@torch.no_grad()
def _evaluate_group(batched: object, x: torch.Tensor,
                    y: torch.Tensor) -> tuple[list[float], list[float]]:
    """Each member's mean loss and accuracy on ``(x, y)``, as :func:`_evaluate`."""
    logits = batched.forward(x, shared_input=True)
    members, n, classes = logits.shape
    losses = F.cross_entropy(logits.reshape(members * n, classes), y.repeat(members),
                             reduction="none").view(members, n).mean(dim=1)
    correct = (logits.argmax(dim=-1) == y).sum(dim=1).tolist()
    return losses.tolist(), [count / len(y) for count in correct]
