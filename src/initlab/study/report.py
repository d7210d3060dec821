"""The report of a study, built from ``results.sqlite`` alone.

So it can be rebuilt at any time without retraining: ``summary.csv`` (one row per grid
cell, ranked), ``report.md`` (the ranked table with the settings) and ``curves.png``
(test accuracy per epoch: mean over seeds and min-max band).

Statistics are over seeds: each finished run contributes its final test accuracy
once. The standard deviation is the sample one (ddof = 1) and is undefined, written
empty, with a single run. Diverged runs are counted in ``n_diverged`` and left out
of the accuracy statistics; failed and unfinished runs are left out of both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from initlab.study.store import Store

__all__ = [
    "CELL_KEYS",
    "SUMMARY_COLUMNS",
    "Cell",
    "plot_curves",
    "ranked_rows",
    "summarize",
    "summary_csv",
    "varying_keys",
    "write_report",
]

#: The settings that make a grid cell: every run setting except the seed.
CELL_KEYS = (
    "dataset", "model", "init", "depth", "width", "activation", "optimizer", "lr",
    "momentum", "batch_size", "epochs", "split_seed", "stream_version",
)
#: The columns of summary.csv; the first ten are fixed by the interface.
SUMMARY_COLUMNS = (
    "dataset", "model", "init", "n_runs", "n_diverged", "test_acc_mean",
    "test_acc_std", "test_acc_min", "test_acc_max", "best_seed",
    "test_loss_mean", "train_loss_mean", "n_failed",
    *CELL_KEYS[3:],
)
_MODEL_KEYS = ("dataset", "model", "depth", "width", "activation")


@dataclass(frozen=True)
class Cell:
    """The runs of one grid cell and their statistics over seeds.

    Attributes:
        settings: The cell's values of :data:`CELL_KEYS`.
        seeds: Seeds of the finished runs, ascending.
        test_acc: Their final test accuracies, in the order of ``seeds``.
        test_loss: Their final test losses.
        train_loss: Their final training losses.
        n_diverged: Runs whose loss became NaN or infinite.
        n_failed: Runs that raised.
        n_unfinished: Runs pending or running.
    """

    settings: dict[str, Any]
    seeds: tuple[int, ...]
    test_acc: tuple[float, ...]
    test_loss: tuple[float, ...]
    train_loss: tuple[float, ...]
    n_diverged: int
    n_failed: int
    n_unfinished: int

    @property
    def n_runs(self) -> int:
        """Runs with a result: finished plus diverged."""
        return len(self.seeds) + self.n_diverged

    @property
    def n(self) -> int:
        """Runs in the accuracy statistics (finished)."""
        return len(self.seeds)

    def _stat(self, values: Sequence[float], how: str) -> float | None:
        if not values or (how == "std" and len(values) < 2):
            return None
        array = np.asarray(values, dtype=np.float64)
        if how == "std":
            return float(np.std(array, ddof=1))
        return float(getattr(np, how)(array))

    @property
    def mean(self) -> float | None:
        return self._stat(self.test_acc, "mean")

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (ddof = 1); None below 2 runs."""
        return self._stat(self.test_acc, "std")

    @property
    def min(self) -> float | None:
        return self._stat(self.test_acc, "min")

    @property
    def max(self) -> float | None:
        return self._stat(self.test_acc, "max")

    @property
    def best_seed(self) -> int | None:
        """The seed of the highest final test accuracy (the lowest seed on ties)."""
        if not self.seeds:
            return None
        return self.seeds[int(np.argmax(self.test_acc))]

    def summary(self) -> dict[str, Any]:
        """The cell as a summary.csv row (values unformatted)."""
        row = dict(self.settings)
        row.update(
            n_runs=self.n_runs, n_diverged=self.n_diverged, test_acc_mean=self.mean,
            test_acc_std=self.std, test_acc_min=self.min, test_acc_max=self.max,
            best_seed=self.best_seed,
            test_loss_mean=self._stat(self.test_loss, "mean"),
            train_loss_mean=self._stat(self.train_loss, "mean"),
            n_failed=self.n_failed,
        )
        return {column: row[column] for column in SUMMARY_COLUMNS}


def _rank_key(cell: Cell) -> tuple:
    mean = cell.mean
    rest = tuple(str(cell.settings[key]) for key in CELL_KEYS)
    return (mean is None, -(mean or 0.0), cell.settings["init"], rest)


def summarize(store: Store) -> list[Cell]:
    """Group the runs of ``store`` into cells, ranked by mean test accuracy.

    Ties (and cells without any finished run, which come last) are ordered by init
    name, then by the other settings.
    """
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in store.runs():  # ordered by settings, then seed
        groups.setdefault(tuple(run[key] for key in CELL_KEYS), []).append(run)
    cells = []
    for key, runs in groups.items():
        finished = [run for run in runs if run["status"] == "finished"]
        cells.append(Cell(
            settings=dict(zip(CELL_KEYS, key, strict=True)),
            seeds=tuple(run["seed"] for run in finished),
            test_acc=tuple(run["test_acc"] for run in finished),
            test_loss=tuple(run["test_loss"] for run in finished),
            train_loss=tuple(run["train_loss"] for run in finished),
            n_diverged=sum(run["status"] == "diverged" for run in runs),
            n_failed=sum(run["status"] == "failed" for run in runs),
            n_unfinished=sum(run["status"] in ("pending", "running") for run in runs),
        ))
    return sorted(cells, key=_rank_key)


def _format(value: Any) -> str:
    """Deterministic text: shortest round-trip repr for floats, empty for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def summary_csv(cells: Sequence[Cell]) -> str:
    """The text of summary.csv: a header and one row per cell, in rank order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SUMMARY_COLUMNS)
    for cell in cells:
        writer.writerow(_format(value) for value in cell.summary().values())
    return buffer.getvalue()


def varying_keys(cells: Sequence[Cell]) -> list[str]:
    """The cell settings, other than ``init``, that differ between cells."""
    return [key for key in CELL_KEYS if key != "init"
            and len({str(cell.settings[key]) for cell in cells}) > 1]


def _fixed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _accuracy(cell: Cell) -> str:
    if cell.mean is None:
        return "n/a"
    return f"{cell.mean:.4f} ± {_fixed(cell.std)}"


def ranked_rows(cells: Sequence[Cell], *,
                compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """The ranked table as text: a header and one row per cell.

    Settings that differ between cells get a column each, after ``init``.
    ``compact`` uses short headers and puts mean and std in columns of their own,
    for a terminal 80 columns wide.
    """
    extra = varying_keys(cells)
    if compact:
        header = ["#", "init", *extra, "n", "div", "mean", "± std", "min", "max",
                  "best"]
    else:
        header = ["rank", "init", *extra, "n", "diverged", "test acc mean ± std",
                  "min", "max", "best seed"]
    rows = []
    for rank, cell in enumerate(cells, start=1):
        if compact:
            accuracy = [_fixed(cell.mean), _fixed(cell.std)]
        else:
            accuracy = [_accuracy(cell)]
        rows.append([
            str(rank), cell.settings["init"], *(str(cell.settings[k]) for k in extra),
            str(cell.n), str(cell.n_diverged), *accuracy, _fixed(cell.min),
            _fixed(cell.max), _format(cell.best_seed) or "n/a",
        ])
    return header, rows


def _seed_text(seeds: Sequence[int]) -> str:
    seeds = sorted(set(seeds))
    if not seeds:
        return "none"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]} ({len(seeds)} seeds)"
    return f"{', '.join(map(str, seeds))} ({len(seeds)} seed{'s' * (len(seeds) > 1)})"


def report_markdown(cells: Sequence[Cell], runs: Sequence[dict[str, Any]]) -> str:
    """The text of report.md: settings, method, ranked table, notes."""
    common = {key: cells[0].settings[key] for key in CELL_KEYS
              if key != "init" and key not in varying_keys(cells)} if cells else {}
    lines = ["# initlab study report", "", "## Settings", ""]
    for key, value in common.items():
        lines.append(f"- {key}: {value}")
    lines += [
        f"- seeds: {_seed_text([run['seed'] for run in runs])}",
        "- split: stratified 80/20 train/test, the same for every run (split_seed)",
        "", "## Ranked results", "",
        "Final test accuracy, ranked by the mean over seeds. `±` is the sample "
        "standard deviation over seeds (ddof = 1; n/a with a single run); n is the "
        "number of seeds in the statistics. Diverged runs (a loss became NaN or "
        "infinite) are counted under *diverged* and excluded from the accuracy "
        "statistics.", "",
    ]
    header, rows = ranked_rows(cells)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    failed = sum(cell.n_failed for cell in cells)
    unfinished = sum(cell.n_unfinished for cell in cells)
    if failed or unfinished:
        lines += ["", f"Not included: {failed} failed run(s), {unfinished} unfinished "
                  "run(s); run the study again to complete them."]
    lines += ["", "![test accuracy per epoch](curves.png)", ""]
    return "\n".join(lines)


def plot_curves(cells: Sequence[Cell], store: Store, path: str | Path) -> Path:
    """Write curves.png: per cell, the mean test accuracy per epoch over its
    finished runs, with a band from the minimum to the maximum."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    by_run: dict[str, list[float]] = {}
    for row in store.epochs():
        by_run.setdefault(row["run_id"], []).append(row["test_acc"])
    runs_of: dict[tuple, list[str]] = {}
    for run in store.runs():
        if run["status"] == "finished":
            key = tuple(run[k] for k in CELL_KEYS)
            runs_of.setdefault(key, []).append(run["run_id"])
    extra = varying_keys(cells)

    fig = Figure(figsize=(9.0, 5.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["tab20" if len(cells) > 10 else "tab10"]
    colors = [cmap(i % cmap.N) for i in range(len(cells))]
    for cell, color in zip(cells, colors, strict=True):
        ids = runs_of.get(tuple(cell.settings[k] for k in CELL_KEYS), [])
        if not ids:
            continue
        curves = np.array([by_run[run_id] for run_id in ids], dtype=np.float64)
        epochs = np.arange(curves.shape[1])
        label = cell.settings["init"]
        if extra:
            label += " (" + ", ".join(f"{k}={cell.settings[k]}" for k in extra) + ")"
        ax.plot(epochs, curves.mean(axis=0), color=color, lw=1.5,
                label=f"{label} (n={len(ids)})")
        ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=color,
                        alpha=0.15, lw=0)
    ax.set_xlabel("epoch (0 = before training)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy per epoch: mean over seeds, band from min to max")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small",
                  frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def write_report(store: Store, out: str | Path) -> list[Cell]:
    """Write summary.csv, report.md and curves.png into ``out``.

    Returns:
        The ranked cells.
    """
    out = Path(out)
    cells = summarize(store)
    runs = store.runs()
    (out / "summary.csv").write_text(summary_csv(cells), encoding="utf-8")
    (out / "report.md").write_text(report_markdown(cells, runs), encoding="utf-8")
    plot_curves(cells, store, out / "curves.png")
    return cells
