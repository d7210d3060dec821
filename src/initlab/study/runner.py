"""Run a study: validate, record the runs, train the ones not done, write the report.

Everything that can be refused is checked before anything is written: the spec at
construction, then every init entry against the model (each initializes a throwaway
copy once), then the output folder and any database already in it. Runs are trained
in this process (``workers=1``), in local worker processes started with ``spawn``,
or as Ray tasks (``executor="ray"``); with ``batched=True`` the seeds of one grid
cell train together as one batched model (:func:`initlab.study.train.train_group`).
Workers only train and return results: only this process writes the database, one
short transaction per finished run, and every process pins torch's thread count.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import platform
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import initlab
from initlab import seeds
from initlab._plugins import ENV as _PLUGINS_ENV
from initlab.study.datasets import Dataset, load_dataset, preload
from initlab.study.report import Cell, write_report
from initlab.study.spec import DONE, RunSpec, StudySpec
from initlab.study.store import (
    RESULTS_FILE,
    NetworkFilesystemWarning,
    Store,
    network_filesystem,
    new_owner,
)
from initlab.study.train import (
    RUN_THREADS,
    RunResult,
    group_key,
    initialize_model,
    train_group,
    train_run,
)

__all__ = [
    "EXECUTORS",
    "Progress",
    "StudyOutcome",
    "ThreadCountWarning",
    "check_batched",
    "check_entries",
    "default_workers",
    "run_study",
    "validate_study",
]

#: Where runs train: this machine's processes, or the tasks of a Ray cluster.
EXECUTORS = ("local", "ray")

#: Below this many optimizer steps in all, the default is to train in this process.
POOL_MIN_STEPS = 20_000

#: Called after each run with (runs done, runs in the study, the run's result);
#: once at the start with result None, counting the runs already done.
Progress = Callable[[int, int, RunResult | None], None]


@dataclass
class StudyOutcome:
    """What :func:`run_study` did.

    Attributes:
        out: The output folder.
        spec: The study.
        total: Runs in the study.
        skipped: Runs already finished or diverged before this call.
        trained: Runs this call trained (any final status).
        elsewhere: Runs another driver held while this one ran.
        counts: Status -> number of the study's runs, at the end.
        cells: The ranked report cells (every run in the database).
        failures: ``(run id, first line of the error)`` of runs that failed here.
    """

    out: Path
    spec: StudySpec
    total: int
    skipped: int
    trained: int = 0
    elsewhere: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    cells: list[Cell] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


class ThreadCountWarning(UserWarning):
    """Runs of the study already finished at another torch thread count, so their
    last bits may differ from what this call trains."""


def default_workers() -> int:
    """The CPUs this process may run on (its affinity mask, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def check_entries(spec: StudySpec) -> None:
    """Initialize a throwaway model once with every init entry of ``spec``.

    Raises:
        ValueError: an entry cannot initialize some parameter of the model; the
            message names the entry and repeats the adapter's reason.
    """
    from initlab.study.models import check_input

    for cell in getattr(spec, "specs", (spec,)):  # a StudyGrid: every cell
        dataset = load_dataset(cell.data_key, cell.split_seed)
        check_input(cell.model, dataset.shape, dataset.kind, dataset.name)
        for run in cell.runs()[: len(cell.inits)]:
            try:
                initialize_model(run, dataset)
            except (ValueError, TypeError, NotImplementedError) as exc:
                raise ValueError(
                    f"Init entry {run.init.label!r} cannot initialize the "
                    f"{cell.model} model: {exc}"
                ) from None


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``'s model name where there is one)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment(threads: int = RUN_THREADS) -> dict[str, str]:
    """Versions, CPU and thread settings recorded in the ``meta`` table."""
    import numpy
    import sklearn
    import torch

    return {
        "initlab_version": initlab.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": str(os.cpu_count()),
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "sklearn_version": sklearn.__version__,
        "stream_version": str(seeds.STREAM_VERSION),
        "run_threads": str(threads),
        "interop_threads": str(torch.get_num_interop_threads()),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", ""),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", ""),
    }


def validate_study(
    spec: StudySpec,
    out: str | Path | None = None,
    workers: int | None = None,
    *,
    batched: bool = False,
    executor: str = "local",
    address: str | None = None,
    threads: int = RUN_THREADS,
) -> tuple[Path, int | None]:
    """Check everything :func:`run_study` needs, writing nothing.

    Returns:
        The output folder (default resolved) and ``workers``.

    Raises:
        ValueError: a bad ``workers``, ``threads``, ``executor`` or ``address``,
            Ray missing for ``executor="ray"``, an output path that is not a
            folder, a file in it that is not an initlab database, an init entry
            that cannot initialize the model, or ``batched`` with a model that
            cannot be batched.
    """
    for flag, value in (("--workers", workers), ("--threads", threads)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"Invalid {flag} {value!r}: it must be an integer >= 1.")
    if executor not in EXECUTORS:
        raise ValueError(
            f"Unknown --executor {executor!r}. Accepted: {', '.join(EXECUTORS)}."
        )
    if address is not None and executor != "ray":
        raise ValueError(
            f"--address {address!r} needs --executor ray (the local executor has no "
            "cluster address)."
        )
    if executor == "ray":
        _import_ray()
    out = Path(out if out is not None else spec.default_out())
    if out.exists() and not out.is_dir():
        raise ValueError(f"Invalid --out {str(out)!r}: it exists and is not a folder.")
    Store.check_file(out / RESULTS_FILE)
    check_entries(spec)
    if batched:
        check_batched(spec)
    return out, workers


def check_batched(spec: StudySpec) -> None:
    """Refuse a study whose model cannot train as a batched model.

    Raises:
        ValueError: the model holds a layer ``torch.func.vmap`` cannot batch
            (the LSTM); the message names it.
    """
    from initlab.study.batched import check_batchable

    for cell in getattr(spec, "specs", (spec,)):  # a StudyGrid: every cell
        run = cell.runs()[0]
        model, _ = initialize_model(run, load_dataset(run.data_key, run.split_seed))
        try:
            check_batchable(model)
        except ValueError as exc:
            raise ValueError(f"--batched cannot train the {cell.model} model: "
                             f"{exc}") from None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ValueError(
            "--executor ray needs Ray, which is not installed: pip install "
            "'initlab[ray]' (or pip install ray)."
        ) from None
    return ray



def _worker_init(datasets: list[Dataset], threads: int = RUN_THREADS,
                 plugins: str | None = None) -> None:
    """Prepare a worker process (local or Ray): pin torch's threads, import the
    driver's plugin modules, and cache the driver's datasets."""
    import torch

    from initlab._plugins import import_plugins

    import_plugins(plugins.split(",") if plugins else None)  # registered initializers
    torch.set_num_threads(threads)
    for dataset in datasets:
        preload(dataset)


def _train_unit(unit: list[RunSpec], batched: bool, threads: int) -> list[RunResult]:
    """Train one unit of work: a run, or a batched group of one cell's seeds."""
    if batched:
        return train_group(unit, threads)
    return [train_run(run, threads) for run in unit]


def _ray_train_unit(unit: list[RunSpec], batched: bool, threads: int,
                    datasets: list[Dataset], plugins: str) -> list[RunResult]:
    """A Ray task: the same work as a local worker, after the same preparation."""
    _worker_init(datasets, threads, plugins)
    return _train_unit(unit, batched, threads)


def _auto_workers(todo: list[RunSpec]) -> int:
    """Worker processes to use by default: one (this process) for small work.

    Starting a worker costs seconds (it imports torch); below about
    :data:`POOL_MIN_STEPS` optimizer steps in all, training here is faster.
    """
    steps = 0
    for run in todo:
        n_train = len(load_dataset(run.data_key, run.split_seed).y_train)
        steps += run.epochs * -(-n_train // run.batch_size)
    return default_workers() if steps >= POOL_MIN_STEPS else 1


def _units(todo: list[RunSpec], batched: bool) -> list[list[RunSpec]]:
    """The work: one run each, or with ``batched`` one group per grid cell (its
    seeds in increasing order), in the order the cells first appear."""
    if not batched:
        return [[run] for run in todo]
    groups: dict[str, list[RunSpec]] = {}
    for run in todo:
        groups.setdefault(group_key(run), []).append(run)
    return [sorted(group, key=lambda run: run.seed) for group in groups.values()]


def _warn_threads(store: Store, runs: list[RunSpec], threads: int) -> None:
    ids = {run.run_id for run in runs}
    others = sorted({row["threads"] for row in store.runs()
                     if row["run_id"] in ids and row["status"] in DONE
                     and row["threads"] is not None and row["threads"] != threads})
    if others:
        warnings.warn(ThreadCountWarning(
            f"Runs of this study finished with {', '.join(map(str, others))} torch "
            f"thread(s); this call trains with {threads}. Sums round differently "
            "at another thread count, so its runs may differ from those in their "
            f"last bits; pass --threads {others[0]} to match them."
        ), stacklevel=3)


def run_study(
    spec: StudySpec,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    batched: bool = False,
    executor: str = "local",
    address: str | None = None,
    threads: int = RUN_THREADS,
) -> StudyOutcome:
    """Run ``spec`` into ``out``, skipping the runs already done there.

    Args:
        spec: The study.
        out: The output folder. Defaults to ``spec.default_out()``.
        workers: Processes (or Ray tasks) that train at once; 1 trains in this
            process with the local executor. Never more than the units of work
            left. Defaults to :func:`default_workers` (Ray: the cluster's CPUs
            divided by ``threads``), or 1 locally when the work is too small to
            pay for starting processes.
        progress: Called as runs complete (see :data:`Progress`).
        batched: Train the seeds of each grid cell as one batched model
            (:func:`initlab.study.train.train_group`). Each run records the mode
            and its group's seeds. Defaults to False.
        executor: ``"local"`` (this machine's processes) or ``"ray"``.
        address: With ``executor="ray"``, the cluster to connect to (as
            ``ray.init(address=...)``); by default an already initialized Ray,
            else a local instance started for this call.
        threads: torch intra-op threads per run, pinned in every process that
            trains. Defaults to :data:`~initlab.study.train.RUN_THREADS`.

    Returns:
        What was done, with the ranked cells of the report.

    Raises:
        ValueError: an entry that cannot initialize the model, an output path that
            is not a folder, or a file there that is not an initlab database, a
            bad executor setting; in every case before anything is written.

    Warns:
        NetworkFilesystemWarning: ``out`` is on a network filesystem.
        ThreadCountWarning: runs of this study finished at another thread count.
    """
    out, workers = validate_study(spec, out, workers, batched=batched,
                                  executor=executor, address=address,
                                  threads=threads)
    out.mkdir(parents=True, exist_ok=True)
    fstype = network_filesystem(out)
    if fstype is not None:
        warnings.warn(NetworkFilesystemWarning(
            f"{out / RESULTS_FILE} is on a network filesystem ({fstype}): SQLite's "
            "locks are unreliable there, so cooperating processes may lose or "
            "corrupt results. Use a local --out (and copy the folder afterwards)."
        ), stacklevel=2)
    runs = spec.runs()
    with Store(out / RESULTS_FILE) as store:
        store.write_meta({**environment(threads),
                          "last_spec": json.dumps(spec.settings()),
                          "last_seed_source": "random" if spec.seed_drawn else "given"})
        store.add_runs(runs)
        store.reclaim_stale()
        _warn_threads(store, runs, threads)
        statuses = store.statuses()
        todo = [run for run in runs if statuses[run.run_id] not in DONE]
        outcome = StudyOutcome(out, spec, total=len(runs),
                               skipped=len(runs) - len(todo))
        done = outcome.skipped
        if progress is not None:
            progress(done, outcome.total, None)

        def finished(result: RunResult) -> None:
            nonlocal done
            done += 1
            outcome.trained += 1
            if result.status == "failed":
                first = (result.error or "").splitlines()[0] if result.error else ""
                outcome.failures.append((result.run_id, first))
            if progress is not None:
                progress(done, outcome.total, result)

        units = _units(todo, batched)
        if units:
            pool = _executor(executor, workers, units, batched, threads, address)
            outcome.elsewhere = _drive(store, units, pool, finished)

        statuses = store.statuses()
        for run in runs:
            status = statuses[run.run_id]
            outcome.counts[status] = outcome.counts.get(status, 0) + 1
        outcome.cells = write_report(store, out)
    return outcome


# ------------------------------------------------------------------- executors
#
# An executor trains units of work (lists of runs) and hands back their results:
# submit(unit) -> handle; wait(handles) -> the finished ones; result(handle) -> the
# unit's RunResults (raising if the worker died); close(cancel). The driver loop,
# _drive, claims, submits, records and reports; it is the only database writer.


class _Here:
    """Train in this process, one unit at a time."""

    name = "local"
    capacity = 1

    def __init__(self, batched: bool, threads: int):
        self.batched, self.threads = batched, threads

    def submit(self, unit: list[RunSpec]) -> Future[list[RunResult]]:
        future: Future[list[RunResult]] = Future()
        future.set_result(_train_unit(unit, self.batched, self.threads))
        return future

    def wait(self, handles: list[Future]) -> list[Future]:
        return list(handles)

    def result(self, handle: Future) -> list[RunResult]:
        return handle.result()

    def close(self, handles: list[Future], cancel: bool) -> None:
        pass


class _Pool(_Here):
    """Train in ``workers`` spawned processes, one unit running and one queued per
    worker."""

    def __init__(self, workers: int, batched: bool, threads: int,
                 datasets: list[Dataset]):
        super().__init__(batched, threads)
        self.capacity = 2 * workers
        self.pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(datasets, threads, os.environ.get(_PLUGINS_ENV, "")))

    def submit(self, unit: list[RunSpec]) -> Future[list[RunResult]]:
        return self.pool.submit(_train_unit, unit, self.batched, self.threads)

    def wait(self, handles: list[Future]) -> list[Future]:
        ready, _ = wait(handles, return_when=FIRST_COMPLETED)
        return list(ready)

    def close(self, handles: list[Future], cancel: bool) -> None:
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


class _Ray:
    """Train as Ray tasks, each asking for ``threads`` CPUs (Ray then sets
    ``OMP_NUM_THREADS`` to that count in the task's process)."""

    name = "ray"

    def __init__(self, workers: int | None, batched: bool, threads: int,
                 datasets: list[Dataset], address: str | None):
        self.ray = ray = _import_ray()
        self.batched, self.threads = batched, threads
        self.started = not ray.is_initialized()
        if self.started:
            options = {"include_dashboard": False, "log_to_driver": False,
                       "logging_level": logging.ERROR}
            if address is not None:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=workers or default_workers(), **options)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        slots = workers or max(1, cpus // threads)
        self.capacity = 2 * slots
        self.task = ray.remote(num_cpus=threads)(_ray_train_unit)
        self.datasets = ray.put(datasets)
        self.plugins = os.environ.get(_PLUGINS_ENV, "")

    def submit(self, unit: list[RunSpec]):
        return self.task.remote(unit, self.batched, self.threads, self.datasets,
                                self.plugins)

    def wait(self, handles: list) -> list:
        ready, _ = self.ray.wait(handles, num_returns=1)
        return ready

    def result(self, handle) -> list[RunResult]:
        return self.ray.get(handle)

    def close(self, handles: list, cancel: bool) -> None:
        if cancel:
            for handle in handles:
                self.ray.cancel(handle, force=True)
        if self.started:
            self.ray.shutdown()


def _executor(executor: str, workers: int | None, units: list[list[RunSpec]],
              batched: bool, threads: int, address: str | None):
    todo = [run for unit in units for run in unit]
    datasets = list({(run.data_key, run.split_seed): load_dataset(run.data_key,
                                                                 run.split_seed)
                     for run in todo}.values())
    if executor == "ray":
        if workers is not None:
            workers = max(1, min(workers, len(units)))
        return _Ray(workers, batched, threads, datasets, address)
    if workers is None:
        workers = _auto_workers(todo)
    workers = max(1, min(workers, len(units)))
    if workers == 1:
        return _Here(batched, threads)
    return _Pool(workers, batched, threads, datasets)


def _drive(store: Store, units: list[list[RunSpec]], executor,
           finished: Callable[[RunResult], None]) -> int:
    """Claim, train through ``executor``, record; return the runs held elsewhere.

    Each run is claimed atomically before it is trained (a batched group is the
    runs of its cell this driver could claim), and recorded, in its own
    transaction, as soon as its unit comes back. Interrupted, the driver hands
    back the runs it holds, so the next start trains them.
    """
    owner, elsewhere, broken = new_owner(), 0, False
    queue = iter(units)
    in_flight: dict[object, list[RunSpec]] = {}

    def submit_next() -> None:
        nonlocal elsewhere, broken
        for unit in queue:
            if broken:
                return
            claimed = [run for run in unit if store.claim(run.run_id, owner)]
            elsewhere += len(unit) - len(claimed)
            if not claimed:
                continue
            try:
                in_flight[executor.submit(claimed)] = claimed
            except BrokenProcessPool:  # leave the rest for the next resume
                store.release([run.run_id for run in claimed], owner)
                broken = True
            except BaseException:  # Ctrl-C while training here: hand them back
                store.release([run.run_id for run in claimed], owner)
                raise
            return

    try:
        for _ in range(executor.capacity):
            submit_next()
        while in_flight:
            for handle in executor.wait(list(in_flight)):
                unit = in_flight.pop(handle)
                try:
                    results = executor.result(handle)
                except Exception as exc:  # a worker died (killed, out of memory)
                    error = f"{type(exc).__name__}: {exc}"
                    results = [RunResult(run.run_id, "failed", error=error)
                               for run in unit]
                store.record_all(results, owner, executor.name)  # one transaction
                for result in results:
                    finished(result)
                submit_next()
    except BaseException:
        store.release([run.run_id for unit in in_flight.values() for run in unit],
                      owner)
        executor.close(list(in_flight), cancel=True)
        raise
    executor.close([], cancel=False)
    return elsewhere
