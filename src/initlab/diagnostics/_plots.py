"""Pictures of diagnoses: std against depth on a log scale (matplotlib, lazily)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from initlab.diagnostics._diagnose import DiagnosisReport

__all__ = ["plot_depth_sweep", "plot_diagnosis"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _positive(values: Sequence[float | None]) -> list[float]:
    """Values for a log axis: None, 0, inf and NaN become gaps (NaN)."""
    return [
        v if v is not None and math.isfinite(v) and v > 0 else math.nan for v in values
    ]


def _overflow_note(report: DiagnosisReport) -> str:
    bad = next((row for row in report.layers if row.nonfinite_fraction > 0), None)
    return f", non-finite from layer {bad.index}" if bad else ""


def _save(fig: Any, plt: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_diagnosis(report: DiagnosisReport, path: str | Path, title: str = "") -> Path:
    """Write a PNG: activation std (left) and gradient std (right) against depth."""
    plt = _pyplot()
    depth = [row.index for row in report.layers]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    left.plot(
        depth,
        _positive([r.act_std for r in report.layers]),
        marker=".",
        label="activation std",
    )
    left.plot(
        depth,
        _positive([r.pre_std for r in report.layers]),
        ls="--",
        label="pre-activation std",
    )
    left.set_title(f"forward: {report.verdict}{_overflow_note(report)}")
    right.plot(
        depth,
        _positive([r.output_grad_std for r in report.layers]),
        marker=".",
        label="output gradient std",
    )
    right.plot(
        depth,
        _positive([r.weight_grad_std for r in report.layers]),
        ls="--",
        label="weight gradient std",
    )
    right.set_title("backward")
    for ax in (left, right):
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel("std")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, plt, path)


def plot_depth_sweep(lines: Sequence[Any], path: str | Path, title: str = "") -> Path:
    """Write a PNG of activation std against depth, one line per initializer.

    Args:
        lines: :class:`SweepLine` objects.
        path: The PNG to write (folders are created).
        title: The figure title.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    # Entries can coincide (glorot_normal and lecun_normal on square layers draw the
    # same values from the same streams): vary dash and marker so none is hidden.
    styles = [("-", "."), ("--", "x"), (":", "+"), ("-.", "1")]
    for number, line in enumerate(lines):
        rows = line.report.layers
        label = f"{line.init} ({line.report.verdict}{_overflow_note(line.report)})"
        dash, marker = styles[number % len(styles)]
        ax.plot(
            [r.index for r in rows],
            _positive([r.act_std for r in rows]),
            linestyle=dash,
            marker=marker,
            label=label,
        )
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("activation std")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title or "activation std against depth")
    return _save(fig, plt, path)
