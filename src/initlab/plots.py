"""Pictures: histograms of drawn weights. Matplotlib is imported lazily."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from initlab.initializers import Initializer, TruncatedNormal, VarianceScaling
from initlab.initializers._random import TRUNCATED_STD, RandomNormal, RandomUniform


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def expected_density(init: Initializer, summary: dict[str, Any], grid: np.ndarray):
    """The density the values are drawn from, or None where it is not a simple one."""
    from scipy import stats

    std = summary["expected_std"]
    mean = summary["expected_mean"] or 0.0
    if std is None or std == 0:
        return None
    if isinstance(init, RandomUniform) or (
        isinstance(init, VarianceScaling) and init.distribution == "uniform"
    ):
        low, high = summary["bounds"]
        return stats.uniform(low, high - low).pdf(grid)
    if isinstance(init, TruncatedNormal) or (
        isinstance(init, VarianceScaling) and init.distribution == "truncated_normal"
    ):
        before = std / TRUNCATED_STD
        return stats.truncnorm(-2, 2, loc=mean, scale=before).pdf(grid)
    if isinstance(init, (RandomNormal, VarianceScaling)):
        return stats.norm(mean, std).pdf(grid)
    # Orthogonal and others: the normal of the same std, as an approximation.
    return stats.norm(mean, std).pdf(grid)


def sample_histogram(
    values: np.ndarray, init: Initializer, summary: dict[str, Any], path: str | Path
) -> Path:
    """Write a histogram of ``values`` with the expected density drawn over it."""
    plt = _pyplot()
    path = Path(path)
    flat = np.asarray(values, dtype=np.float64).ravel()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    if flat.size:
        bins = min(100, max(10, int(math.sqrt(flat.size))))
        ax.hist(flat, bins=bins, density=True, alpha=0.6, label="drawn values")
        low, high = flat.min(), flat.max()
        pad = 0.05 * (high - low or 1.0)
        grid = np.linspace(low - pad, high + pad, 400)
        density = expected_density(init, summary, grid)
        if density is not None:
            ax.plot(grid, density, color="black", lw=1.5, label="expected density")
    shape = "x".join(map(str, summary["shape"])) or "scalar"
    ax.set_title(f"{summary['name']} {shape} ({summary['layout']} layout)")
    ax.set_xlabel("weight value")
    ax.set_ylabel("density")
    if flat.size:  # an empty tensor has nothing to label (matplotlib would warn)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
