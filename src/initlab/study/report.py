"""The report of a study, built from ``results.sqlite`` alone.

So it can be rebuilt at any time without retraining: ``summary.csv`` (one row per grid
cell, ranked), ``report.md`` (the ranked table with the settings), ``curves.png``
(test accuracy per epoch: mean over seeds and min-max band) and ``report.html`` (all
of it and more, self-contained; see :mod:`initlab.study.html`).

Statistics are over seeds (:mod:`initlab.study.stats`): each finished run contributes
its final test accuracy once. The standard deviation is the sample one (ddof = 1);
it, the standard error, the Student t interval and the paired test against the best
are undefined, written empty, with fewer than 2 runs. Diverged runs are counted in
``n_diverged`` and left out of the accuracy statistics; failed and unfinished runs
are left out of both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from initlab.study.stats import (
    ALPHA,
    CI_METHOD,
    TEST_METHOD,
    Comparison,
    SeedStats,
    compare_to_best,
    describe,
)
from initlab.study.store import Store

__all__ = [
    "CELL_KEYS",
    "STAT_COLUMNS",
    "SUMMARY_COLUMNS",
    "UNDEFINED",
    "Cell",
    "cell_label",
    "common_settings",
    "comparison_notes",
    "curves_figure",
    "distribution_figure",
    "interval_text",
    "method_note",
    "p_text",
    "plot_curves",
    "png_bytes",
    "ranked_rows",
    "report_markdown",
    "summarize",
    "summary_csv",
    "varying_keys",
    "write_report",
]

#: The settings that make a grid cell: every run setting except the seed (``vary``:
#: which source of randomness the seeds vary, see docs/study.md).
CELL_KEYS = (
    "dataset", "model", "init", "depth", "width", "activation", "optimizer", "lr",
    "momentum", "batch_size", "epochs", "split_seed", "stream_version", "vary",
)
#: The statistics columns of summary.csv that follow the first ten (see Cell.summary).
STAT_COLUMNS = (
    "test_acc_median", "test_acc_se", "ci95_low", "ci95_high", "label", "p_vs_best",
    "p_holm", "n_paired", "diff_vs_best", "unpaired_seeds",
)
#: The columns of summary.csv; the first ten are fixed by the interface.
SUMMARY_COLUMNS = (
    "dataset", "model", "init", "n_runs", "n_diverged", "test_acc_mean",
    "test_acc_std", "test_acc_min", "test_acc_max", "best_seed",
    *STAT_COLUMNS,
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
        diverged_seeds: Seeds of the diverged runs, ascending.
        comparison: This cell against the best cell of its group (the cells that
            differ from it only by ``init``); set by :func:`summarize`.
    """

    settings: dict[str, Any]
    seeds: tuple[int, ...]
    test_acc: tuple[float, ...]
    test_loss: tuple[float, ...]
    train_loss: tuple[float, ...]
    n_diverged: int
    n_failed: int
    n_unfinished: int
    comparison: Comparison | None = None
    diverged_seeds: tuple[int, ...] = ()

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
    def stats(self) -> SeedStats:
        """n, mean, std, median, standard error and 95 % t interval over seeds."""
        return describe(self.test_acc)

    @property
    def by_seed(self) -> dict[int, float]:
        """``seed -> final test accuracy`` of the finished runs."""
        return dict(zip(self.seeds, self.test_acc, strict=True))

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
            **self._stat_columns(),
            test_loss_mean=self._stat(self.test_loss, "mean"),
            train_loss_mean=self._stat(self.train_loss, "mean"),
            n_failed=self.n_failed,
        )
        return {column: row[column] for column in SUMMARY_COLUMNS}

    def _stat_columns(self) -> dict[str, Any]:
        stats, comparison = self.stats, self.comparison
        test = comparison.test if comparison is not None else None
        return {
            "test_acc_median": stats.median, "test_acc_se": stats.se,
            "ci95_low": stats.ci_low, "ci95_high": stats.ci_high,
            "label": comparison.label if comparison is not None else None,
            "p_vs_best": test.p if test is not None else None,
            "p_holm": comparison.p_holm if comparison is not None else None,
            "n_paired": test.n if test is not None else None,
            "diff_vs_best": test.diff if test is not None else None,
            "unpaired_seeds": comparison.missing if comparison is not None else None,
        }

    @property
    def group(self) -> tuple:
        """The settings other than ``init``: cells of one group are compared."""
        return tuple(str(self.settings[key]) for key in CELL_KEYS if key != "init")


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
            diverged_seeds=tuple(run["seed"] for run in runs
                                 if run["status"] == "diverged"),
        ))
    cells.sort(key=_rank_key)
    comparisons = compare_to_best([cell.by_seed for cell in cells],
                                  [cell.group for cell in cells])
    return [replace(cell, comparison=comparison)
            for cell, comparison in zip(cells, comparisons, strict=True)]


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


#: How an undefined statistic is written for people (summary.csv leaves it empty).
UNDEFINED = "undefined"


def _fixed(value: float | None) -> str:
    return UNDEFINED if value is None else f"{value:.4f}"


def _accuracy(cell: Cell) -> str:
    if cell.mean is None:
        return UNDEFINED
    return f"{cell.mean:.4f} ± {_fixed(cell.std)}"


def interval_text(stats: SeedStats) -> str:
    """``[low, high]`` to 4 decimals, or ``undefined`` below 2 seeds."""
    if stats.ci_low is None or stats.ci_high is None:
        return UNDEFINED
    return f"[{stats.ci_low:.4f}, {stats.ci_high:.4f}]"


def p_text(p: float | None) -> str:
    """A p-value to 3 significant digits (``1.45e-04`` below 0.001)."""
    if p is None:
        return UNDEFINED
    return f"{p:.2e}" if p < 0.001 else f"{p:.3f}"


def _vs_best(cell: Cell) -> tuple[str, str, str]:
    """``(label, paired p, Holm p)`` as text; the best cell gets dashes."""
    comparison = cell.comparison
    if comparison is None or comparison.test is None:
        return ("best", "—", "—") if comparison is not None else ("", "", "")
    return comparison.label, p_text(comparison.test.p), p_text(comparison.p_holm)


def cell_label(cell: Cell, extra: Sequence[str] = ()) -> str:
    """``init`` followed by the settings ``extra`` that vary: ``he_normal (lr=0.1)``."""
    label = str(cell.settings["init"])
    if extra:
        label += " (" + ", ".join(f"{k}={cell.settings[k]}" for k in extra) + ")"
    return label


def method_note() -> str:
    """What the numbers of the ranked table mean: n, ±, the interval, the test."""
    return (
        "Final test accuracy over seeds, ranked by the mean. n is the number of "
        "seeds in the statistics (finished runs; one accuracy per seed, never the "
        "pooled test examples). `±` is the sample standard deviation over seeds "
        "(ddof = 1), not the standard error; SE is the standard error of the mean "
        f"(std / √n). 95 % CI: the {CI_METHOD}, chosen because it stays honest at 3 "
        "to 10 seeds. vs best: a "
        f"{TEST_METHOD}; better or worse when the Holm-adjusted p is below {ALPHA}, "
        "otherwise indistinguishable. With fewer than 2 seeds (or 2 common seeds) "
        f"the std, SE, interval and test are {UNDEFINED}, never 0. Diverged runs "
        "(a loss became NaN or infinite) are counted under *diverged* and excluded "
        "from the accuracy statistics."
    )


def ranked_rows(cells: Sequence[Cell], *,
                compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """The ranked table as text: a header and one row per cell.

    Settings that differ between cells get a column each, after ``init``.
    ``compact`` (for a terminal 80 columns wide) uses short headers, puts mean and
    std in columns of their own and leaves out SE, median, min, max, the p-values
    and the best seed.
    """
    extra = varying_keys(cells)
    if compact:
        header = ["#", "init", *extra, "n", "div", "mean", "95% CI (t)", "± std",
                  "vs best"]
    else:
        header = ["rank", "init", *extra, "n", "diverged", "mean ± std",
                  "95 % CI (t)", "SE", "median", "min", "max", "vs best",
                  "p (paired t)", "p (Holm)", "best seed"]
    rows = []
    for rank, cell in enumerate(cells, start=1):
        stats = cell.stats
        label, p, p_holm = _vs_best(cell)
        first = [str(rank), cell.settings["init"],
                 *(str(cell.settings[k]) for k in extra), str(cell.n),
                 str(cell.n_diverged)]
        if compact:
            # "n.s." (not significant) keeps the column narrow enough for 80 columns.
            short = "n.s." if label == "indistinguishable" else label
            rows.append([*first, _fixed(cell.mean), interval_text(stats),
                         "n/a" if cell.std is None else _fixed(cell.std), short])
        else:
            rows.append([*first, _accuracy(cell), interval_text(stats),
                         _fixed(stats.se), _fixed(stats.median), _fixed(cell.min),
                         _fixed(cell.max), label, p, p_holm,
                         _format(cell.best_seed) or UNDEFINED])
    return header, rows


def comparison_notes(cells: Sequence[Cell]) -> list[str]:
    """Sentences about what the ranked table leaves out: seeds missing on one
    side of a pairing, refused tests, diverged runs."""
    extra = varying_keys(cells)
    notes = []
    for cell in cells:
        name = cell_label(cell, extra)
        comparison = cell.comparison
        if cell.n_diverged:
            seeds = ", ".join(map(str, cell.diverged_seeds))
            notes.append(f"{name}: {cell.n_diverged} diverged run(s) (seed "
                         f"{seeds}), excluded from the statistics.")
        if cell.n == 1:
            notes.append(f"{name}: one seed, so its std, SE, interval and test are "
                         f"{UNDEFINED}.")
        if comparison is None or comparison.test is None:
            continue
        test = comparison.test
        best = cell_label(cells[comparison.best], extra)
        if comparison.missing:
            missing = comparison.missing_text(name, best)
            notes.append(f"{name} vs {best}: seeds left out of the pairing "
                         f"({missing}); {test.n} pair(s) used.")
        if test.p is None and test.note:
            notes.append(f"{name} vs {best}: test {UNDEFINED}: {test.note}."
                         if not test.identical else
                         f"{name} vs {best}: {test.note}.")
    return notes


def _seed_text(seeds: Sequence[int]) -> str:
    seeds = sorted(set(seeds))
    if not seeds:
        return "none"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]} ({len(seeds)} seeds)"
    return f"{', '.join(map(str, seeds))} ({len(seeds)} seed{'s' * (len(seeds) > 1)})"


def common_settings(cells: Sequence[Cell]) -> dict[str, Any]:
    """The cell settings, other than ``init``, that every cell shares."""
    if not cells:
        return {}
    extra = varying_keys(cells)
    return {key: cells[0].settings[key] for key in CELL_KEYS
            if key != "init" and key not in extra}


def report_markdown(cells: Sequence[Cell], runs: Sequence[dict[str, Any]],
                    explanation: Any = None) -> str:
    """The text of report.md: settings, method, ranked table, notes and, when
    given, the deterministic-versus-stochastic section (an
    :class:`initlab.study.explain.Explanation`)."""
    lines = ["# initlab study report", "",
             "The full report, with plots, per-seed results, initial diagnostics and "
             "the environment, is `report.html`.", "", "## Settings", ""]
    for key, value in common_settings(cells).items():
        lines.append(f"- {key}: {value}")
    lines += [
        f"- seeds: {_seed_text([run['seed'] for run in runs])}",
        "- split: stratified 80/20 train/test, the same for every run (split_seed)",
        "", "## Ranked results", "", method_note(), "",
    ]
    header, rows = ranked_rows(cells)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    notes = comparison_notes(cells)
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    failed = sum(cell.n_failed for cell in cells)
    unfinished = sum(cell.n_unfinished for cell in cells)
    if failed or unfinished:
        lines += ["", f"Not included: {failed} failed run(s), {unfinished} unfinished "
                  "run(s); run the study again to complete them."]
    lines += ["", "![test accuracy per epoch](curves.png)", ""]
    if explanation is not None:
        lines += ["## Deterministic versus stochastic training", "",
                  *explanation.markdown(), ""]
    return "\n".join(lines)


def _curves_of(cells: Sequence[Cell], store: Store) -> list[np.ndarray | None]:
    """Per cell, its finished runs' test accuracy per epoch (runs x epochs)."""
    by_run: dict[str, list[float]] = {}
    for row in store.epochs():
        by_run.setdefault(row["run_id"], []).append(row["test_acc"])
    runs_of: dict[tuple, list[str]] = {}
    for run in store.runs():
        if run["status"] == "finished":
            runs_of.setdefault(tuple(run[k] for k in CELL_KEYS), []).append(
                run["run_id"])
    curves: list[np.ndarray | None] = []
    for cell in cells:
        ids = runs_of.get(tuple(cell.settings[k] for k in CELL_KEYS), [])
        lengths = {len(by_run.get(run_id, [])) for run_id in ids}
        if not ids or len(lengths) != 1 or 0 in lengths:
            curves.append(None)
            continue
        curves.append(np.array([by_run[run_id] for run_id in ids], dtype=np.float64))
    return curves


def _colors(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def curves_figure(cells: Sequence[Cell], store: Store) -> Any:
    """Test accuracy per epoch: per cell, the mean over its finished runs as a line
    and the band from the minimum to the maximum (a matplotlib Figure)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    extra = varying_keys(cells)
    fig = Figure(figsize=(9.0, 5.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for cell, color, curves in zip(cells, _colors(len(cells)),
                                   _curves_of(cells, store), strict=True):
        if curves is None:
            continue
        epochs = np.arange(curves.shape[1])
        ax.plot(epochs, curves.mean(axis=0), color=color, lw=1.5,
                label=f"{cell_label(cell, extra)} (n={len(curves)})")
        ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=color,
                        alpha=0.15, lw=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (0 = before training)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Test accuracy per epoch: mean over seeds, band from min to max")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small",
                  frameon=False)
    else:
        ax.text(0.5, 0.5, "no finished run yet", ha="center", va="center",
                transform=ax.transAxes)
    fig.tight_layout()
    return fig


def _horizontal() -> dict[str, Any]:
    """boxplot's keyword for horizontal boxes: ``orientation`` from matplotlib
    3.10 (where ``vert`` is deprecated), ``vert`` before."""
    import matplotlib

    major, minor = (int(part) for part in matplotlib.__version__.split(".")[:2])
    if (major, minor) >= (3, 10):
        return {"orientation": "horizontal"}
    return {"vert": False}


#: The zoomed panel of the distribution figure shows the cells whose mean is within
#: this distance of the best cell's mean.
ZOOM_WINDOW = 0.1


def _zoom_range(cells: Sequence[Cell]) -> tuple[float, float] | None:
    """The x range of the zoomed panel, or None when one panel shows it all: the
    cells within :data:`ZOOM_WINDOW` of the best mean, when 2 or more are and some
    other cell is not."""
    means = [cell.mean for cell in cells if cell.mean is not None]
    if len(means) < 3:
        return None
    best = max(means)
    near = [cell for cell in cells
            if cell.mean is not None and cell.mean >= best - ZOOM_WINDOW]
    if len(near) < 2 or len(near) == len(means):
        return None
    # the seeds' values set the range; a wider interval runs off the panel's edge
    low = min(min(cell.test_acc) for cell in near)
    high = max(max(cell.test_acc) for cell in near)
    pad = max(0.15 * (high - low), 0.002)
    return low - pad, high + pad


def _draw_distributions(ax: Any, cells: Sequence[Cell], positions: np.ndarray,
                        colors: list[Any], window: tuple[float, float] | None) -> None:
    for cell, y, color in zip(cells, positions, colors, strict=True):
        values = np.asarray(cell.test_acc, dtype=np.float64)
        if values.size == 0:
            continue
        if window is not None and not (window[0] <= cell.mean <= window[1]):
            ax.text(window[0], y, f"  mean {cell.mean:.3f}: off this scale",
                    va="center", ha="left", fontsize="x-small", color="0.45")
            continue
        if values.size >= 2:
            ax.boxplot([values], positions=[y], widths=0.6, showfliers=False,
                       manage_ticks=False, medianprops={"color": color, "lw": 2},
                       **_horizontal())
        # deterministic jitter: seeds spread evenly across the box's height
        offsets = (np.linspace(-0.18, 0.18, values.size) if values.size > 1
                   else np.zeros(1))
        ax.scatter(values, y + offsets, s=14, color=color, alpha=0.8, zorder=3,
                   edgecolors="none")
        stats = cell.stats
        if stats.ci_low is not None and stats.ci_high is not None:
            ax.errorbar([stats.mean], [y - 0.38], xerr=[[stats.mean - stats.ci_low],
                        [stats.ci_high - stats.mean]], fmt="D", color="black",
                        ms=4, lw=1.2, capsize=3, zorder=4)
        else:
            ax.plot([stats.mean], [y - 0.38], "D", color="black", ms=4, zorder=4)
    ax.set_ylim(0.3, len(cells) + 0.7)
    ax.set_xlabel("final test accuracy" if window is None else
                  f"zoom: the cells within {ZOOM_WINDOW} of the best mean")
    ax.grid(axis="x", alpha=0.3)
    if window is not None:
        ax.set_xlim(*window)


def distribution_figure(cells: Sequence[Cell]) -> Any:
    """Final test accuracy per cell, best on top: a box plot (quartiles), one dot
    per seed, and the mean with its 95 % t interval; diverged runs are counted in
    the label (a matplotlib Figure). When some cells are far below the best, a
    second panel zooms in on the cells near it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    extra = varying_keys(cells)
    window = _zoom_range(cells)
    height = max(2.5, 1.2 + 0.42 * len(cells))
    fig = Figure(figsize=(11.0 if window else 9.0, height), dpi=100)
    FigureCanvasAgg(fig)
    if window is None:
        axes = [fig.add_subplot()]
    else:
        axes = list(fig.subplots(1, 2, sharey=True,
                                 gridspec_kw={"width_ratios": (1, 1.3)}))
    positions = np.arange(len(cells), 0, -1, dtype=np.float64)  # best on top
    colors = _colors(len(cells))
    labels = []
    for cell in cells:
        name = f"{cell_label(cell, extra)} (n={cell.n}"
        labels.append(name + (f", {cell.n_diverged} diverged)" if cell.n_diverged
                              else ")"))
    _draw_distributions(axes[0], cells, positions, colors, None)
    if window is not None:
        _draw_distributions(axes[1], cells, positions, colors, window)
    axes[0].set_yticks(positions, labels, fontsize="small")
    fig.suptitle("Final test accuracy per seed: box = quartiles, dots = seeds, "
                 "◆ = mean with its 95 % t interval", fontsize="medium")
    fig.tight_layout()
    return fig


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes, without metadata that could differ between runs."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def plot_curves(cells: Sequence[Cell], store: Store, path: str | Path) -> Path:
    """Write curves.png (see :func:`curves_figure`)."""
    path = Path(path)
    path.write_bytes(png_bytes(curves_figure(cells, store)))
    return path


def write_report(store: Store, out: str | Path, *, html: bool = True) -> list[Cell]:
    """Write summary.csv, report.md, curves.png and report.html into ``out``.

    Everything comes from ``store`` (and, for the initial diagnostics, the
    datasets and models the runs name), so the report can be rebuilt at any time
    without training. ``html=False`` skips report.html and the short trainings of
    its deterministic-versus-stochastic section.

    Returns:
        The ranked cells.
    """
    out = Path(out)
    cells = summarize(store)
    runs = store.runs()
    (out / "summary.csv").write_text(summary_csv(cells), encoding="utf-8")
    from initlab.study.variance import write_variance

    write_variance(cells, out)  # variance.csv, for studies run with --vary
    explanation = None
    if html:
        from initlab.study.explain import explain

        explanation = explain()
    (out / "report.md").write_text(report_markdown(cells, runs, explanation),
                                   encoding="utf-8")
    curves = png_bytes(curves_figure(cells, store))
    (out / "curves.png").write_bytes(curves)
    if html:
        from initlab.study.html import report_html

        (out / "report.html").write_text(
            report_html(store, cells, runs, curves=curves, explanation=explanation),
            encoding="utf-8")
    return cells
