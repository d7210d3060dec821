"""Reports of a search: table rows, two figures and a markdown section.

Matplotlib is imported lazily, only by the functions that draw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from initlab.search._search import BUDGET_RULE, MethodResult, SearchResult

__all__ = ["plot_curves", "plot_restarts", "table_rows", "write_report"]

#: Columns of the table; numbers with brackets are median [interquartile range].
TABLE_COLUMNS = (
    "method",
    "solved",
    "evals to success",
    "final loss",
    "with restarts",
    "time",
)

_COLORS = {"gd": "C0", "sgd": "C1", "annealing": "C2", "genetic": "C3"}


def _evals(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _loss(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def _row(name: str, method: MethodResult, stats: dict[str, Any]) -> list[str]:
    n_runs = stats["n_runs"]
    iqr = stats["evals_to_success_iqr"]
    to_success = _evals(stats["evals_to_success_median"])
    if iqr is not None:
        to_success += f" [{_evals(iqr[0])}, {_evals(iqr[1])}]"
    quartiles = stats["final_loss_quartiles"]
    final = f"{_loss(quartiles[2])} [{_loss(quartiles[1])}, {_loss(quartiles[3])}]"
    restarts = len(method.success_rate_by_restarts)
    return [
        name,
        f"{stats['n_success']}/{n_runs} ({stats['success_rate']:.2f})",
        to_success,
        final,
        f"{method.success_rate_by_restarts[-1]:.2f} (x{restarts})",
        f"{method.elapsed_s:.1f} s",
    ]


def table_rows(result: SearchResult) -> list[list[str]]:
    """One row of strings per method, in the order of :data:`TABLE_COLUMNS`."""
    summary = result.summary()["methods"]
    return [_row(name, m, summary[name]) for name, m in result.methods.items()]


def describe(result: SearchResult) -> str:
    """The setting of a search in two sentences: budget, threshold, restarts."""
    problem = result.problem
    return (
        f"{problem.description}; kernels from {result.init['name']}, biases zero; "
        f"{len(result.seeds)} seeds from {result.seeds[0]}. Budget: "
        f"{result.budget:,} loss evaluations per run for every method; solved: "
        f"{problem.loss_name} below {problem.threshold:g}; restarts split the "
        f"budget into {result.restarts} attempts of {result.restart_budget:,}. "
        "Numbers with brackets: median [interquartile range] over seeds."
    )


def _figure():
    # An Agg canvas of its own: no pyplot state, safe to call from any thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def plot_curves(result: SearchResult, path: str | Path) -> Path:
    """Write the loss of each method's answer against evaluations: the median over
    seeds as a line, the interquartile range as a band, the threshold dashed."""
    fig, ax = _figure()
    for name, method in result.methods.items():
        # Before its first measurement a run has no answer yet: left out.
        seen = ~np.isnan(method.curves).all(axis=0)
        grid, curves = method.curve_evals[seen], method.curves[:, seen]
        low, mid, high = np.nanpercentile(curves, (25, 50, 75), axis=0)
        color = _COLORS.get(name)
        ax.plot(grid, mid, color=color, label=f"{name} (median)")
        ax.fill_between(grid, low, high, color=color, alpha=0.2, linewidth=0)
    threshold = result.problem.threshold
    ax.axhline(
        threshold,
        color="black",
        linestyle="--",
        linewidth=1,
        label=f"threshold {threshold:g}",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("loss evaluations")
    ax.set_ylabel(result.problem.loss_name)
    ax.set_title(
        f"{result.problem.name}: loss of the answer, median and IQR over "
        f"{len(result.seeds)} seeds",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def plot_restarts(result: SearchResult, path: str | Path) -> Path:
    """Write the success rate against the number of restarts, counted from
    independent attempts (solid), beside ``1 - (1 - r1)^k`` (dotted): what
    independent attempts at the first attempt's rate would give."""
    fig, ax = _figure()
    k = np.arange(1, result.restarts + 1)
    for name, method in result.methods.items():
        rates = method.success_rate_by_restarts
        color = _COLORS.get(name)
        ax.plot(k, rates, marker="o", color=color, label=name)
        ax.plot(k, 1 - (1 - rates[0]) ** k, linestyle=":", color=color)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(k)
    ax.set_xlabel(f"restarts (attempts of {result.restart_budget:,} evaluations)")
    ax.set_ylabel(f"share of {len(result.seeds)} seeds solved")
    ax.set_title(
        f"{result.problem.name}: success against restarts (dotted: 1 - (1 - r1)^k)",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    return path


def _seed_text(seeds: list[int]) -> str:
    if len(seeds) > 2:
        return f"{seeds[0]}..{seeds[-1]} ({len(seeds)} seeds)"
    return f"{', '.join(map(str, seeds))} ({len(seeds)} seed{'s' * (len(seeds) > 1)})"


def markdown(result: SearchResult, figures: dict[str, str] | None = None) -> str:
    """A report section in the study report's layout: settings, how the statistics
    are counted, the table, the figures."""
    problem = result.problem
    lines = [
        f"## Stochastic search: {problem.name}",
        "",
        "### Settings",
        "",
        f"- problem: {problem.description}"
        + (f", data seed {problem.data_seed}" if problem.data_seed is not None else ""),
        f"- init: {result.init['name']} for the kernels, biases zero; "
        "every method starts from the same weights",
        f"- seeds: {_seed_text(result.seeds)}",
        f"- budget: {result.budget:,} loss evaluations per run, for every method "
        f"({BUDGET_RULE})",
        f"- solved: {problem.loss_name} below {problem.threshold:g} "
        f"({problem.threshold_note})",
        f"- restarts: {result.restarts} independent attempts of "
        f"{result.restart_budget:,} evaluations",
    ]
    for name, method in result.methods.items():
        settings = ", ".join(f"{k}={v}" for k, v in method.settings.items())
        lines.append(f"- {name}: {settings}")
    lines += [
        "",
        "### Results",
        "",
        f"Statistics over n = {len(result.seeds)} seeds. *Solved* counts the runs "
        "that went below the threshold within the budget. Evaluations to success are "
        "over the solved runs only; numbers with brackets are the median "
        "[interquartile range] (linear interpolation). The final loss is the loss of "
        "each run's answer when it ended, at success or when the budget was spent. "
        "*With restarts* is the share of seeds solved within "
        f"{result.restarts} independent attempts of {result.restart_budget:,} "
        "evaluations, counted from those attempts, not computed from a formula.",
        "",
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(result)]
    lines.append("")
    for title, name in (figures or {}).items():
        lines += [f"![{title}]({name})", ""]
    return "\n".join(lines)


def write_report(result: SearchResult, out: str | Path) -> dict[str, Path]:
    """Write ``search.json``, the two figures and ``search.md`` into ``out``.

    Returns:
        The paths written, by kind: ``json``, ``curves``, ``restarts``, ``markdown``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "search.json",
        "curves": out / "search_loss.png",
        "restarts": out / "search_restarts.png",
        "markdown": out / "search.md",
    }
    summary = json.dumps(result.summary(), indent=2, allow_nan=False)
    paths["json"].write_text(summary, encoding="utf-8")
    plot_curves(result, paths["curves"])
    plot_restarts(result, paths["restarts"])
    figures = {
        "Loss against evaluations": paths["curves"].name,
        "Success rate against restarts": paths["restarts"].name,
    }
    paths["markdown"].write_text(markdown(result, figures), encoding="utf-8")
    return paths
