"""Statistics over seeds: honest at 3 to 10 seeds, undefined below 2.

Everything here works on **per-seed values**: one final test accuracy per run, so
``n`` is the number of seeds, never the number of test examples (pooling the
examples of all seeds would treat 5 x 200 evaluations as 1,000 independent draws
and give an interval about 20 times too narrow).

- :func:`describe`: n, mean, sample std (ddof = 1), median, standard error and a
  95 % confidence interval of the mean by Student's t with n - 1 degrees of
  freedom (exact for normal per-seed values and conservative enough at 3 to 10
  seeds, where a normal-approximation or bootstrap interval is too narrow). With
  fewer than 2 values the std, the standard error and the interval are undefined
  (None), never 0.
- :func:`paired_test`: Student's paired t-test over the seeds two cells share.
  Runs of different initializers with the same seed share the split and the data
  order, so the pairs differ only by the initializer; seeds present on one side
  only are named and left out. Fewer than 2 pairs: the test is refused
  (undefined).
- :func:`holm`: Holm's step-down adjustment of a family of p-values.
- :func:`compare_to_best`: each cell of a group against the group's best, paired,
  Holm-corrected over the group, labelled ``better`` / ``worse`` /
  ``indistinguishable`` (or ``undefined``).

This module needs NumPy and SciPy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = [
    "ALPHA",
    "CI_METHOD",
    "CONFIDENCE",
    "TEST_METHOD",
    "Comparison",
    "PairedTest",
    "SeedStats",
    "compare_to_best",
    "describe",
    "holm",
    "paired_test",
    "welch_test",
]

#: Confidence level of the interval of the mean.
CONFIDENCE = 0.95
#: Family-wise error rate of the comparisons against the best (after Holm).
ALPHA = 0.05
#: How the interval is computed, as the reports state it.
CI_METHOD = "Student t interval of the mean over seeds (n - 1 degrees of freedom)"
#: How cells are compared, as the reports state it.
TEST_METHOD = ("two-sided paired t-test over the seeds both cells have, "
               "Holm-corrected over the comparisons with the same best")

#: Labels of :class:`Comparison`.
LABELS = ("best", "better", "worse", "indistinguishable", "undefined")


@dataclass(frozen=True)
class SeedStats:
    """Summary of one value per seed.

    Attributes:
        n: Number of values (seeds).
        mean, median: None when ``n`` is 0.
        std: Sample standard deviation (ddof = 1); None below 2 values.
        se: Standard error of the mean, ``std / sqrt(n)``; None below 2 values.
        ci_low, ci_high: The :data:`CONFIDENCE` Student t interval of the mean;
            None below 2 values.
        confidence: The interval's confidence level.
    """

    n: int
    mean: float | None
    std: float | None
    median: float | None
    se: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float = CONFIDENCE

    @property
    def defined(self) -> bool:
        """Whether the spread, the interval and tests are defined (n >= 2)."""
        return self.n >= 2

    @property
    def method(self) -> str:
        return CI_METHOD


def describe(values: Sequence[float], confidence: float = CONFIDENCE) -> SeedStats:
    """Mean, std, median, standard error and t interval of per-seed ``values``.

    Args:
        values: One value per seed (never pooled evaluations). Must be finite.
        confidence: The interval's confidence level, in (0, 1).

    Raises:
        ValueError: a non-finite value or a confidence outside (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"Invalid confidence {confidence!r}: it must be in (0, 1).")
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(
            "describe() takes finite values only; leave diverged runs out."
        )
    n = int(array.size)
    if n == 0:
        return SeedStats(0, None, None, None, None, None, None, confidence)
    mean = float(np.mean(array))
    median = float(np.median(array))
    if n < 2:
        return SeedStats(n, mean, None, median, None, None, None, confidence)
    std = float(np.std(array, ddof=1))
    se = std / math.sqrt(n)
    half = float(_st.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return SeedStats(n, mean, std, median, se, mean - half, mean + half, confidence)


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of two cells over their common seeds.

    Attributes:
        seeds: The common seeds, ascending (the pairs).
        only_a: Seeds that ``a`` has and ``b`` lacks, ascending (left out).
        only_b: Seeds that ``b`` has and ``a`` lacks, ascending (left out).
        diff: Mean of ``a - b`` over the pairs; None without pairs.
        t: The t statistic; None when the test is undefined.
        p: The two-sided p-value; None when the test is undefined.
        note: Why the test is undefined (or degenerate); empty otherwise.
    """

    seeds: tuple[int, ...]
    only_a: tuple[int, ...]
    only_b: tuple[int, ...]
    diff: float | None
    t: float | None
    p: float | None
    note: str = ""

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def identical(self) -> bool:
        """Every pair has exactly the same value."""
        return self.n > 0 and self.note.startswith("identical")


def _seed_list(seeds: Sequence[int]) -> str:
    return ", ".join(str(seed) for seed in seeds)


def paired_test(a: Mapping[int, float], b: Mapping[int, float]) -> PairedTest:
    """Student's paired t-test of ``a`` against ``b`` over their common seeds.

    Args:
        a, b: ``seed -> value`` (one value per seed, e.g. final test accuracy).

    Returns:
        The test; ``p`` is None (undefined, never 0 or 1 by default) with fewer than
        2 common seeds, or when the differences are all equal and not zero (the
        t-test needs their spread). When they are all zero the cells are identical
        on every pair: ``p`` is None and ``note`` says so.
    """
    common = tuple(sorted(set(a) & set(b)))
    only_a = tuple(sorted(set(a) - set(b)))
    only_b = tuple(sorted(set(b) - set(a)))
    if not common:
        return PairedTest(common, only_a, only_b, None, None, None,
                          "no common seed: the paired test is refused")
    x = np.array([a[seed] for seed in common], dtype=np.float64)
    y = np.array([b[seed] for seed in common], dtype=np.float64)
    d = x - y
    diff = float(np.mean(d))
    if len(common) < 2:
        return PairedTest(common, only_a, only_b, diff, None, None,
                          "one common seed: the paired test needs 2 or more")
    scale = float(np.max(np.abs(d)))
    if float(np.ptp(d)) <= 1e-9 * scale or scale == 0.0:
        if scale == 0.0:
            return PairedTest(common, only_a, only_b, 0.0, None, None,
                              "identical on every common seed")
        return PairedTest(
            common, only_a, only_b, diff, None, None,
            f"the difference is {diff:+.4g} on every common seed: the t-test needs "
            "its spread (more seeds may tell)",
        )
    result = _st.ttest_rel(x, y)
    return PairedTest(common, only_a, only_b, diff, float(result.statistic),
                      float(result.pvalue))


def welch_test(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Welch's unpaired t-test p-value (for contrast: it ignores the pairing).

    None with fewer than 2 values on either side.
    """
    if len(a) < 2 or len(b) < 2:
        return None
    return float(_st.ttest_ind(np.asarray(a, dtype=np.float64),
                               np.asarray(b, dtype=np.float64),
                               equal_var=False).pvalue)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values; None entries stay None and are not
    counted in the family.

    The k-th smallest of m p-values is multiplied by ``m - k + 1``, made
    non-decreasing, and capped at 1. Ties keep their input order.
    """
    defined = [(p, i) for i, p in enumerate(pvalues) if p is not None]
    m = len(defined)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(sorted(defined, key=lambda item: item[0])):
        running = max(running, min(1.0, (m - k) * p))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Comparison:
    """One cell compared with the best cell of its group.

    Attributes:
        label: ``best`` (the reference itself), ``better`` or ``worse`` (than the
            best, Holm-adjusted p below :data:`ALPHA`), ``indistinguishable``, or
            ``undefined`` (the test was refused; see ``test.note``).
        best: The index of the group's best cell.
        test: The paired test of this cell against the best (None for the best).
        p_holm: The Holm-adjusted p-value; None when undefined.
    """

    label: str
    best: int
    test: PairedTest | None = None
    p_holm: float | None = None

    @property
    def missing(self) -> str:
        """The seeds left out of the pairing, named by side; empty when none."""
        return self.missing_text("this", "best")

    def missing_text(self, this: str, best: str) -> str:
        """:attr:`missing` with the two sides called ``this`` and ``best``:
        ``"he_normal only: 4; zeros only: 2, 3"``."""
        if self.test is None:
            return ""
        parts = []
        if self.test.only_b:
            parts.append(f"{best} only: {_seed_list(self.test.only_b)}")
        if self.test.only_a:
            parts.append(f"{this} only: {_seed_list(self.test.only_a)}")
        return "; ".join(parts)


def compare_to_best(
    values: Sequence[Mapping[int, float]],
    groups: Sequence[object] | None = None,
    alpha: float = ALPHA,
) -> list[Comparison]:
    """Compare every cell with the best cell of its group.

    Args:
        values: Per cell, ``seed -> value`` (finished runs only), **in rank order**:
            the first cell of each group is its best.
        groups: Per cell, a hashable group key (cells that differ only by
            initializer share one). Defaults to a single group.
        alpha: Family-wise error rate after Holm's correction, applied over the
            defined p-values of each group.

    Returns:
        One :class:`Comparison` per cell, in the order of ``values``. When the best
        cell has fewer than 2 seeds every comparison of its group is undefined.
    """
    if groups is None:
        groups = [0] * len(values)
    if len(groups) != len(values):
        raise ValueError("compare_to_best: values and groups differ in length.")
    members: dict[object, list[int]] = {}
    for index, key in enumerate(groups):
        members.setdefault(key, []).append(index)
    result: list[Comparison | None] = [None] * len(values)
    for indices in members.values():
        best = indices[0]
        result[best] = Comparison("best", best)
        tests = {i: paired_test(values[i], values[best]) for i in indices[1:]}
        adjusted = holm([tests[i].p for i in indices[1:]])
        for i, p_holm in zip(indices[1:], adjusted, strict=True):
            test = tests[i]
            if p_holm is not None:
                if p_holm < alpha:
                    label = "better" if (test.diff or 0.0) > 0 else "worse"
                else:
                    label = "indistinguishable"
            elif test.identical:
                label = "indistinguishable"
            else:
                label = "undefined"
            result[i] = Comparison(label, best, test, p_holm)
    return [comparison for comparison in result if comparison is not None]
