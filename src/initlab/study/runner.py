"""Run a study: validate, record the runs, train the ones not done, write the report.

Everything that can be refused is checked before anything is written: the spec at
construction, then every init entry against the model (each initializes a throwaway
copy once), then the output folder and any database already in it. Runs are trained
in this process (``workers=1``) or in worker processes started with ``spawn``; only
this process writes the database, one short transaction per finished run.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import initlab
from initlab import seeds
from initlab.study.datasets import Dataset, load_dataset, preload
from initlab.study.report import Cell, write_report
from initlab.study.spec import DONE, RunSpec, StudySpec
from initlab.study.store import RESULTS_FILE, Store, new_owner
from initlab.study.train import RUN_THREADS, RunResult, initialize_model, train_run

__all__ = [
    "Progress",
    "StudyOutcome",
    "check_entries",
    "default_workers",
    "run_study",
    "validate_study",
]

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


def default_workers() -> int:
    """Two worker processes, or one on a single-CPU machine."""
    return max(1, min(2, os.cpu_count() or 1))


def check_entries(spec: StudySpec) -> None:
    """Initialize a throwaway model once with every init entry of ``spec``.

    Raises:
        ValueError: an entry cannot initialize some parameter of the model; the
            message names the entry and repeats the adapter's reason.
    """
    dataset = load_dataset(spec.data_key, spec.split_seed)
    for run in spec.runs()[: len(spec.inits)]:
        try:
            initialize_model(run, dataset)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise ValueError(
                f"Init entry {run.init.label!r} cannot initialize the {spec.model} "
                f"model: {exc}"
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


def environment() -> dict[str, str]:
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
        "run_threads": str(RUN_THREADS),
        "interop_threads": str(torch.get_num_interop_threads()),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", ""),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", ""),
    }


def validate_study(
    spec: StudySpec, out: str | Path | None = None, workers: int | None = None
) -> tuple[Path, int | None]:
    """Check everything :func:`run_study` needs, writing nothing.

    Returns:
        The output folder (default resolved) and ``workers``.

    Raises:
        ValueError: a bad ``workers``, an output path that is not a folder, a file
            in it that is not an initlab database, or an init entry that cannot
            initialize the model.
    """
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(f"Invalid --workers {workers!r}: it must be an integer >= 1.")
    out = Path(out if out is not None else spec.default_out())
    if out.exists() and not out.is_dir():
        raise ValueError(f"Invalid --out {str(out)!r}: it exists and is not a folder.")
    Store.check_file(out / RESULTS_FILE)
    check_entries(spec)
    return out, workers


def _worker_init(datasets: list[Dataset]) -> None:
    import torch

    from initlab._plugins import import_plugins

    import_plugins()  # the driver's --import modules: registered initializers

    torch.set_num_threads(RUN_THREADS)
    for dataset in datasets:
        preload(dataset)


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


def run_study(
    spec: StudySpec,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> StudyOutcome:
    """Run ``spec`` into ``out``, skipping the runs already done there.

    Args:
        spec: The study.
        out: The output folder. Defaults to ``spec.default_out()``.
        workers: Processes that train (1 trains in this process); never more than
            the runs left to train. Defaults to :func:`default_workers`, or 1 when
            the work is too small to pay for starting processes.
        progress: Called as runs complete (see :data:`Progress`).

    Returns:
        What was done, with the ranked cells of the report.

    Raises:
        ValueError: an entry that cannot initialize the model, an output path that
            is not a folder, or a file there that is not an initlab database; in
            every case before anything is written.
    """
    out, workers = validate_study(spec, out, workers)
    out.mkdir(parents=True, exist_ok=True)
    runs = spec.runs()
    with Store(out / RESULTS_FILE) as store:
        store.write_meta({**environment(), "last_spec": json.dumps(spec.settings()),
                          "last_seed_source": "random" if spec.seed_drawn else "given"})
        store.add_runs(runs)
        store.reclaim_stale()
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

        if workers is None:
            workers = _auto_workers(todo)
        workers = max(1, min(workers, len(todo)))
        execute = _execute_here if workers == 1 else _execute_pool
        outcome.elsewhere = execute(store, todo, finished, workers)

        statuses = store.statuses()
        for run in runs:
            status = statuses[run.run_id]
            outcome.counts[status] = outcome.counts.get(status, 0) + 1
        outcome.cells = write_report(store, out)
    return outcome


def _execute_here(store: Store, todo: list[RunSpec],
                  finished: Callable[[RunResult], None], workers: int) -> int:
    """Train ``todo`` one by one in this process; return the runs held elsewhere."""
    owner, elsewhere = new_owner(), 0
    for run in todo:
        if not store.claim(run.run_id, owner):
            elsewhere += 1
            continue
        try:
            result = train_run(run)
        except BaseException:  # Ctrl-C: hand the run back for the next resume
            store.release([run.run_id], owner)
            raise
        store.record(result, owner)
        finished(result)
    return elsewhere


def _execute_pool(store: Store, todo: list[RunSpec],
                  finished: Callable[[RunResult], None], workers: int) -> int:
    """Train ``todo`` in ``workers`` spawned processes, keeping each one busy."""
    owner, elsewhere, broken = new_owner(), 0, False
    queue = iter(todo)
    in_flight: dict[Future[RunResult], RunSpec] = {}
    context = multiprocessing.get_context("spawn")
    datasets = list({(run.data_key, run.split_seed): load_dataset(run.data_key,
                                                                 run.split_seed)
                     for run in todo}.values())
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                             initargs=(datasets,)) as pool:

        def submit_next() -> None:
            nonlocal elsewhere, broken
            for run in queue:
                if broken:
                    return
                if not store.claim(run.run_id, owner):
                    elsewhere += 1
                    continue
                try:
                    in_flight[pool.submit(train_run, run)] = run
                except BrokenProcessPool:  # leave the rest for the next resume
                    store.release([run.run_id], owner)
                    broken = True
                return

        try:
            for _ in range(2 * workers):  # one running and one queued per worker
                submit_next()
            while in_flight:
                ready, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in ready:
                    run = in_flight.pop(future)
                    try:
                        result = future.result()
                    except Exception as exc:  # a worker died (killed, out of memory)
                        result = RunResult(run.run_id, "failed",
                                           error=f"{type(exc).__name__}: {exc}")
                    store.record(result, owner)
                    finished(result)
                    submit_next()
        except BaseException:
            store.release([run.run_id for run in in_flight.values()], owner)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return elsewhere

