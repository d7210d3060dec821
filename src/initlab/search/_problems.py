"""The problems of a search: data, network, loss threshold, budget and settings.

Each problem fixes everything a fair comparison needs: one budget of loss
evaluations for every method, the loss under which a run counts as solved, and the
settings of each method, chosen once per problem and reported with the results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from initlab import seeds
from initlab.search._network import Network

__all__ = ["PROBLEMS", "Problem", "get_problem"]


@dataclass(frozen=True)
class Problem:
    """A small supervised problem and how to search it.

    Attributes:
        name: The problem's name (``"xor"``, ``"spirals"``, ``"digits"``).
        description: One line for reports.
        network: The network whose weights are searched.
        x: Inputs, float64 of shape ``(n, network.sizes[0])``.
        y: Targets: 0/1 floats of shape ``(n,)`` for a sigmoid output, class
            indices of shape ``(n,)`` for a softmax output.
        threshold: A run is solved once it evaluates a loss below this.
        threshold_note: What the threshold means, in words.
        budget: Loss evaluations per run, the same for every method.
        restarts: The default number of restarts the budget is split into.
        data_seed: The seed the data were generated with, or None when the data
            involve no randomness.
        settings: Each method's settings on this problem.
    """

    name: str
    description: str
    network: Network
    x: np.ndarray
    y: np.ndarray
    threshold: float
    threshold_note: str
    budget: int
    restarts: int
    data_seed: int | None = None
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def n_examples(self) -> int:
        return int(self.x.shape[0])

    @property
    def loss_name(self) -> str:
        if self.network.output == "sigmoid":
            return "mean binary cross-entropy"
        return "mean categorical cross-entropy"


def xor() -> Problem:
    """XOR with a 2-2-1 tanh network: the smallest problem with bad basins.

    About half of the glorot_uniform starts lead gradient descent to a plateau at
    loss ln(2)/2 = 0.347, where two of the four examples sit at probability 0.5.
    """
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    return Problem(
        name="xor",
        description="XOR, 4 examples, 2-2-1 network (tanh hidden, sigmoid output)",
        network=Network((2, 2, 1)),
        x=x,
        y=y,
        # Below ln(2)/4 = 0.173 no example can be on the wrong side of 0.5.
        threshold=0.1,
        threshold_note="under ln(2)/4, every example is on its class's side of 0.5",
        budget=2000,
        restarts=10,
        settings={
            "gd": {"learning_rate": 1.0},
            "sgd": {"learning_rate": 0.5, "batch_size": 1},
            "annealing": {"bound": 10.0},
            "genetic": {"population": 20, "bound": 10.0},
        },
    )


def spiral_data(
    seed: int = 0, n_per_class: int = 100, turns: float = 1.5, noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals, one per class, drawn from the stream (seed, "spirals").

    Point ``i`` of class ``c`` sits at radius ``r = i / n_per_class`` (scaled to at
    most 1) and angle ``2 pi turns r + pi c``, moved by Gaussian noise of standard
    deviation ``noise``.

    Returns:
        ``x`` of shape ``(2 n_per_class, 2)`` and ``y`` of shape
        ``(2 n_per_class,)`` (0.0 or 1.0).
    """
    rng = seeds.stream(seed, "spirals")
    radius = (np.arange(n_per_class) + 1.0) / n_per_class
    points, labels = [], []
    for label in (0, 1):
        angle = 2.0 * math.pi * turns * radius + math.pi * label
        xy = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        points.append(xy + noise * rng.standard_normal(xy.shape))
        labels.append(np.full(n_per_class, float(label)))
    return np.concatenate(points), np.concatenate(labels)


def spirals(seed: int = 0) -> Problem:
    """Two interleaved spirals (1.5 turns, 200 points) with a 2-16-16-1 network."""
    x, y = spiral_data(seed)
    return Problem(
        name="spirals",
        description="two interleaved spirals, 1.5 turns, 200 points, 2-16-16-1 network",
        network=Network((2, 16, 16, 1)),
        x=x,
        y=y,
        threshold=0.1,
        threshold_note="each misclassified point costs more than ln 2, so at most "
        "14 % are",
        budget=4000,
        restarts=2,
        data_seed=seed,
        settings={
            "gd": {"learning_rate": 1.0},
            "sgd": {"learning_rate": 0.1, "batch_size": 20},
            "annealing": {"bound": 10.0},
            "genetic": {"population": 20, "bound": 10.0, "gene_prob": 0.02},
        },
    )


#: Examples of the digits subset: the first 500 of scikit-learn's 1,797.
DIGITS_EXAMPLES = 500


def digits() -> Problem:
    """The first 500 of scikit-learn's 8 x 8 digits, all ten classes, 64-16-10."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ValueError(
            "The digits problem needs scikit-learn: pip install 'initlab[search]'."
        ) from None
    data = load_digits()
    x = data.data[:DIGITS_EXAMPLES] / 16.0
    y = data.target[:DIGITS_EXAMPLES].astype(np.int64)
    return Problem(
        name="digits",
        description=f"the first {DIGITS_EXAMPLES} scikit-learn digits (8 x 8, 10 "
        "classes), 64-16-10 network",
        network=Network((64, 16, 10), output="softmax"),
        x=x,
        y=y,
        threshold=0.1,
        threshold_note="each misclassified example costs at least ln 2, so at most "
        "14 % are",
        budget=1000,
        restarts=2,
        settings={
            "gd": {"learning_rate": 1.0},
            "sgd": {"learning_rate": 0.1, "batch_size": 25},
            "annealing": {"bound": 5.0},
            "genetic": {"population": 20, "bound": 5.0, "gene_prob": 0.01},
        },
    )


PROBLEMS: dict[str, Callable[[], Problem]] = {
    "xor": xor,
    "spirals": spirals,
    "digits": digits,
}


def get_problem(problem: str | Problem) -> Problem:
    """The problem named ``problem`` (a Problem is returned as is).

    Raises:
        ValueError: an unknown name, with the accepted ones.
    """
    if isinstance(problem, Problem):
        return problem
    if problem not in PROBLEMS:
        raise ValueError(
            f"Unknown problem {problem!r}. Accepted: {', '.join(PROBLEMS)}."
        )
    return PROBLEMS[problem]()
