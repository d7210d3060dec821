"""The harness: many seeds, several methods, one budget, restarts and statistics."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import initlab
from initlab import seeds as seeds_module
from initlab.initializers import Initializer
from initlab.search._methods import DEFAULT_SETTINGS, METHODS, Runs, Start, run_method
from initlab.search._problems import Problem, get_problem

__all__ = ["BUDGET_RULE", "MethodResult", "SearchResult", "search"]

#: How evaluations are counted, stated in every report.
BUDGET_RULE = (
    "one full-batch loss evaluation = 1; one full-batch gradient (with its loss) = 1; "
    "a minibatch gradient on m of n examples = m/n; SGD's end-of-epoch full-batch "
    "loss, used only to detect success, is not charged"
)

#: Points of the loss-against-evaluations curves in a result.
CURVE_POINTS = 200


def _number(value: float) -> float | None:
    # JSON has no inf or NaN: an undefined or infinite statistic is None.
    return float(value) if math.isfinite(value) else None


def _quantiles(values: np.ndarray, q: Sequence[float]) -> list[float | None] | None:
    # Linear interpolation (NumPy's default); a diverged (NaN) value counts as +inf.
    if values.size == 0:
        return None
    values = np.where(np.isnan(values), np.inf, values)
    return [_number(v) for v in np.percentile(values, q)]


@dataclass
class MethodResult:
    """One method's runs over the seeds, and their statistics.

    Attributes:
        name: The method's name.
        settings: The settings it ran with.
        evals_to_success: Per seed, the evaluations the single run (the whole
            budget) spent until solved; ``inf`` where it was not solved.
        final_loss: Per seed, the loss of the single run's answer at its end.
        restart_evals_to_success: Per seed, the evaluations spent until solved when
            the budget is split into ``restarts`` independent attempts of
            ``restart_budget`` evaluations each; ``inf`` where none succeeded.
        success_rate_by_restarts: Entry ``k - 1``: the share of seeds solved
            within their first ``k`` attempts (``k * restart_budget`` evaluations).
        curve_evals: Evaluation counts of the curves, shape ``(CURVE_POINTS,)``.
        curves: Per seed, the loss of the single run's answer after each count of
            ``curve_evals`` (NaN before its first measurement), shape
            ``(seeds, CURVE_POINTS)``.
        elapsed_s: Wall-clock seconds spent on this method.
    """

    name: str
    settings: dict[str, Any]
    evals_to_success: np.ndarray
    final_loss: np.ndarray
    restart_evals_to_success: np.ndarray
    success_rate_by_restarts: np.ndarray
    curve_evals: np.ndarray
    curves: np.ndarray
    elapsed_s: float

    @property
    def n_success(self) -> int:
        return int(np.isfinite(self.evals_to_success).sum())

    @property
    def success_rate(self) -> float:
        return self.n_success / self.evals_to_success.size

    def summary(self) -> dict[str, Any]:
        """The statistics as plain JSON-ready values (None where undefined)."""
        solved = self.evals_to_success[np.isfinite(self.evals_to_success)]
        iqr = _quantiles(solved, (25, 75))
        restarted = self.restart_evals_to_success
        restarted = restarted[np.isfinite(restarted)]
        return {
            "settings": dict(self.settings),
            "n_runs": int(self.evals_to_success.size),
            "n_success": self.n_success,
            "success_rate": self.success_rate,
            "evals_to_success_median": float(np.median(solved))
            if solved.size
            else None,
            "evals_to_success_iqr": iqr,
            "n_diverged": int((~np.isfinite(self.final_loss)).sum()),
            "final_loss_median": _quantiles(self.final_loss, (50,))[0],
            "final_loss_quartiles": _quantiles(self.final_loss, (0, 25, 50, 75, 100)),
            "success_rate_by_restarts": {
                str(k): float(rate)
                for k, rate in enumerate(self.success_rate_by_restarts, 1)
            },
            "restarts_evals_to_success_median": (
                float(np.median(restarted)) if restarted.size else None
            ),
            "per_seed": {
                "evals_to_success": [
                    float(e) if math.isfinite(e) else None
                    for e in self.evals_to_success
                ],
                "final_loss": [_number(v) for v in self.final_loss],
            },
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass
class SearchResult:
    """The outcome of :func:`search`: the setting, then one result per method."""

    problem: Problem
    init: dict[str, Any]
    seeds: list[int]
    budget: int
    restarts: int
    restart_budget: int
    methods: dict[str, MethodResult] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Everything ``initlab search --json`` prints."""
        problem = self.problem
        return {
            "problem": problem.name,
            "description": problem.description,
            "network": list(problem.network.sizes),
            "activation": problem.network.activation,
            "loss": problem.loss_name,
            "threshold": problem.threshold,
            "threshold_note": problem.threshold_note,
            "data_seed": problem.data_seed,
            "budget": self.budget,
            "budget_unit": "loss evaluations per run",
            "budget_rule": BUDGET_RULE,
            "restarts": self.restarts,
            "restart_budget": self.restart_budget,
            "init": self.init,
            "seeds": {"first": self.seeds[0], "count": len(self.seeds)},
            "stream_version": initlab.STREAM_VERSION,
            "methods": {name: m.summary() for name, m in self.methods.items()},
        }


def _resample(
    curves: list[tuple[np.ndarray, np.ndarray]], grid: np.ndarray
) -> np.ndarray:
    # The last value measured at or before each grid point; the answer of a finished
    # run keeps its loss.
    out = np.full((len(curves), grid.size), np.nan)
    for row, (evals, losses) in enumerate(curves):
        where = np.searchsorted(evals, grid, side="right") - 1
        seen = where >= 0
        out[row, seen] = losses[where[seen]]
    return out


def _restarts(
    method: str,
    problem: Problem,
    init: Initializer,
    seeds: list[int],
    single: Runs,
    restarts: int,
    restart_budget: int,
    settings: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the evaluations to success with restarts, and the first attempt
    that succeeded (-1 for none).

    Attempt 0 is the single run cut at ``restart_budget``: a method makes the same
    moves whatever its budget, so it is not run again. Attempt ``a`` runs only for
    the seeds that no earlier attempt solved.
    """
    evals = np.where(
        single.evals_to_success <= restart_budget, single.evals_to_success, np.inf
    )
    first = np.where(np.isfinite(evals), 0, -1)
    for attempt in range(1, restarts):
        pending = np.flatnonzero(first < 0)
        if pending.size == 0:
            break
        starts = [Start(seeds[i], attempt) for i in pending]
        runs = run_method(method, problem, init, starts, restart_budget, settings)
        solved = np.isfinite(runs.evals_to_success)
        evals[pending[solved]] = (
            attempt * restart_budget + runs.evals_to_success[solved]
        )
        first[pending[solved]] = attempt
    return evals, first


def _settings(
    method: str, problem: Problem, overrides: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Any]:
    merged = dict(DEFAULT_SETTINGS[method])
    merged.update(problem.settings.get(method, {}))
    extra = dict((overrides or {}).get(method, {}))
    unknown = sorted(set(extra) - set(merged))
    if unknown:
        raise ValueError(
            f"Unknown setting {unknown[0]!r} for method {method!r}. "
            f"Accepted: {', '.join(sorted(merged))}."
        )
    merged.update(extra)
    return merged


def _check_methods(methods: str | Sequence[str]) -> list[str]:
    names = (
        [m.strip() for m in methods.split(",")]
        if isinstance(methods, str)
        else list(methods)
    )
    if not names:
        raise ValueError(f"No method given. Accepted: {', '.join(METHODS)}.")
    for name in names:
        if name not in METHODS:
            raise ValueError(
                f"Unknown method {name!r}. Accepted: {', '.join(METHODS)}."
            )
    if len(set(names)) != len(names):
        raise ValueError(f"A method is listed twice in {','.join(names)!r}.")
    return names


def _check_count(value: object, argument: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"`{argument}` must be an integer. Received: {argument}={value!r}."
        )
    if value < minimum:
        raise ValueError(
            f"`{argument}` must be at least {minimum}. Received: {argument}={value}."
        )
    return int(value)


def search(
    problem: str | Problem = "xor",
    methods: str | Sequence[str] = ("gd", "sgd", "annealing", "genetic"),
    seeds: int = 50,
    *,
    init: Any = "glorot_uniform",
    restarts: int | None = None,
    budget: int | None = None,
    seed: int = 0,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> SearchResult:
    """Train a small network with each method from the same starts, over many seeds.

    Every method gets the same budget of loss evaluations per run (see
    ``BUDGET_RULE``). Run seed ``s`` draws the initial kernels from the streams
    (s, parameter name) with ``init`` (biases zero), so every method starts from
    the same weights; a method's own randomness comes from the stream
    (s, ``search/<method>/<attempt>``).

    Restarts split the same budget into ``restarts`` independent attempts of
    ``budget // restarts`` evaluations each; attempt ``a`` starts from weights
    drawn under the names ``restart<a>.<parameter>``. The success rate after ``k``
    restarts counts the seeds solved within their first ``k`` attempts, each seed
    being its own independent sequence of restarts.

    Args:
        problem: ``"xor"``, ``"spirals"``, ``"digits"`` or a :class:`Problem`.
            Defaults to ``"xor"``.
        methods: Names among ``gd``, ``sgd``, ``annealing``, ``genetic``, as a
            sequence or a comma-separated string. Defaults to all four.
        seeds: The number of run seeds: ``seed, seed + 1, ...``. Defaults to 50.
        init: The initializer of the kernels: anything :func:`initlab.get`
            accepts. An initializer with its own int seed gives every run seed the
            same start. Defaults to ``"glorot_uniform"``.
        restarts: How many attempts the budget is split into. Defaults to the
            problem's (10 for XOR).
        budget: Loss evaluations per run. Defaults to the problem's (2,000 for XOR).
        seed: The first run seed. Defaults to 0.
        settings: Per method, settings that replace the problem's, e.g.
            ``{"gd": {"learning_rate": 0.5}}``. Defaults to None.

    Returns:
        A :class:`SearchResult`; ``result.summary()`` is the JSON report.

    Raises:
        ValueError: an unknown problem, method, initializer or setting, or a
            budget smaller than the number of restarts.
        TypeError: a count that is not an integer.
    """
    problem = get_problem(problem)
    names = _check_methods(methods)
    n_seeds = _check_count(seeds, "seeds")
    first_seed = seeds_module.check_seed(seed)
    initializer = initlab.get(init)
    if initializer is None:
        raise ValueError("`init` must name an initializer. Received: init=None.")
    budget = _check_count(problem.budget if budget is None else budget, "budget")
    restarts = _check_count(
        problem.restarts if restarts is None else restarts, "restarts"
    )
    if restarts > budget:
        raise ValueError(
            f"`restarts` ({restarts}) cannot exceed `budget` ({budget}): each attempt "
            "needs at least one evaluation."
        )
    merged = {name: _settings(name, problem, settings) for name in names}

    run_seeds = list(range(first_seed, first_seed + n_seeds))
    restart_budget = budget // restarts
    grid = np.unique(np.linspace(1, budget, CURVE_POINTS).round())
    result = SearchResult(
        problem=problem,
        init={
            "name": initlab.canonical_name(initializer),
            "config": initializer.get_config(),
        },
        seeds=run_seeds,
        budget=budget,
        restarts=restarts,
        restart_budget=restart_budget,
    )
    for name in names:
        began = time.perf_counter()
        starts = [Start(s) for s in run_seeds]
        single = run_method(name, problem, initializer, starts, budget, merged[name])
        evals, first = _restarts(
            name,
            problem,
            initializer,
            run_seeds,
            single,
            restarts,
            restart_budget,
            merged[name],
        )
        by_restarts = np.array(
            [np.mean((first >= 0) & (first < k)) for k in range(1, restarts + 1)]
        )
        result.methods[name] = MethodResult(
            name=name,
            settings=merged[name],
            evals_to_success=single.evals_to_success,
            final_loss=single.final_loss,
            restart_evals_to_success=evals,
            success_rate_by_restarts=by_restarts,
            curve_evals=grid,
            curves=_resample(single.curves, grid),
            elapsed_s=time.perf_counter() - began,
        )
    return result
