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
import math
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from initlab.study.datasets import Dataset, epoch_order, load_dataset
from initlab.study.models import build_model
from initlab.study.spec import RunSpec

__all__ = [
    "EpochMetrics",
    "RunResult",
    "initialize_model",
    "pinned_threads",
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
        data_hash: A hash of the run's train/test split and epoch orders.
        epochs: One entry per evaluated epoch, from 0.
        error: The exception and traceback of a failed run.
        duration_s: Wall time of the run in seconds (not part of its results).
        threads: torch's intra-op thread count during training.
        interop_threads: torch's inter-op thread count.
    """

    run_id: str
    status: str
    fingerprint: str | None = None
    data_hash: str | None = None
    epochs: list[EpochMetrics] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0
    threads: int = RUN_THREADS
    interop_threads: int = 1

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


def initialize_model(run: RunSpec, dataset: Dataset) -> tuple[nn.Module, str]:
    """Build the run's model and initialize it with the run's entry and init seed.

    Returns:
        The model and the fingerprint of its initial parameters.

    Raises:
        ValueError, TypeError: the entry cannot initialize some parameter.
    """
    from initlab.torch import fingerprint, initialize

    model = build_model(run.model, dataset.n_features, dataset.n_classes,
                        depth=run.depth, width=run.width, activation=run.activation,
                        input_shape=dataset.shape, input_kind=dataset.kind)
    initialize(model, policy=run.init.value, seed=run.init_seed)
    return model, fingerprint(model)


def _optimizer(run: RunSpec, model: nn.Module) -> torch.optim.Optimizer:
    if run.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=run.lr, momentum=run.momentum)
    return torch.optim.Adam(model.parameters(), lr=run.lr)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor,
              y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    loss = F.cross_entropy(logits, y).item()
    correct = int((logits.argmax(dim=1) == y).sum().item())
    return loss, correct / len(y)


def train_run(run: RunSpec) -> RunResult:
    """Train ``run`` and return its result; never raises for a failing run.

    An exception inside the run gives status ``failed`` with its traceback; a loss
    (train or test) that becomes NaN or infinite gives ``diverged`` and stops
    training at that epoch.
    """
    started = time.perf_counter()
    result = RunResult(run.run_id, "failed",
                       interop_threads=torch.get_num_interop_threads())
    try:
        with pinned_threads():
            _train(run, result)
    except Exception as exc:  # a run failing is a result, not a crash of the study
        result.status = "failed"
        lines = traceback.format_exception(exc)
        result.error = f"{type(exc).__name__}: {exc}\n{''.join(lines)}"
    result.duration_s = time.perf_counter() - started
    return result


def _train(run: RunSpec, result: RunResult) -> None:
    dataset = load_dataset(run.data_key, run.split_seed)
    x_train = torch.from_numpy(dataset.x_train.copy())
    y_train = torch.from_numpy(dataset.y_train.copy())
    x_test = torch.from_numpy(dataset.x_test.copy())
    y_test = torch.from_numpy(dataset.y_test.copy())
    data_hash = hashlib.sha256()
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        data_hash.update(array.tobytes())

    model, result.fingerprint = initialize_model(run, dataset)
    optimizer = _optimizer(run, model)
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
