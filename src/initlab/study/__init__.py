"""Multi-seed studies: which initializer trains best, with what spread over seeds.

A :class:`StudySpec` expands to runs (init entry x seed), a :class:`StudyGrid` (a
spec file, :func:`read_spec_file` and :func:`build_grid`) to the runs of every grid
cell; :func:`run_study` trains the ones not yet done into an output folder holding
``results.sqlite``, ``summary.csv``, ``report.md``, ``curves.png`` and
``report.html``. :func:`replay_run` re-runs one recorded run; :func:`find_best` and
:func:`write_best` keep the best one. See ``docs/study.md``.

The names below load on first use, so ``initlab.study.spec`` (no torch) stays
cheap to import for the command line.
"""

import importlib
from typing import Any

_EXPORTS = {
    "Dataset": "datasets",
    "epoch_order": "datasets",
    "load_dataset": "datasets",
    "build_model": "models",
    "BestRun": "best",
    "find_best": "best",
    "write_best": "best",
    "DataFileError": "sources",
    "DataSource": "sources",
    "resolve_source": "sources",
    "StudyGrid": "grid",
    "build_grid": "grid",
    "read_spec_file": "grid",
    "replay_run": "replay",
    "spread_table": "variance",
    "Cell": "report",
    "summarize": "report",
    "write_report": "report",
    "StudyOutcome": "runner",
    "check_entries": "runner",
    "default_workers": "runner",
    "run_study": "runner",
    "validate_study": "runner",
    "InitEntry": "spec",
    "RunSpec": "spec",
    "StudySpec": "spec",
    "split_entries": "spec",
    "InvalidStore": "store",
    "Store": "store",
    "RunResult": "train",
    "train_run": "train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"initlab.study.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'initlab.study' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
