"""Statistics over seeds: case S7 of study-cases.md, Holm, labels, undefined cases."""

import csv
import io

import numpy as np
import pytest
from scipy import stats as st

from initlab.study.report import summarize, summary_csv, write_report
from initlab.study.spec import StudySpec
from initlab.study.stats import (
    Comparison,
    compare_to_best,
    describe,
    holm,
    paired_test,
    welch_test,
)
from initlab.study.store import Store, new_owner
from initlab.study.train import EpochMetrics, RunResult

S7 = [0.80, 0.85, 0.90, 0.95, 1.00]
S7_SHIFT = [0.011, 0.009, 0.012, 0.010, 0.008]
EVALUATIONS = 200  # test examples per seed in case S7


def _fill(store, accuracies):
    """Fake finished runs: ``accuracies[init]`` maps seed -> accuracy (None:
    diverged; missing seed: no run)."""
    seeds = sorted({seed for values in accuracies.values() for seed in values})
    runs = StudySpec(inits=tuple(accuracies), seeds=max(seeds) + 1, epochs=1).runs()
    owner = new_owner()
    store.add_runs(runs)
    for run in runs:
        if run.seed not in accuracies[run.init.label]:
            continue
        acc = accuracies[run.init.label][run.seed]
        store.claim(run.run_id, owner)
        if acc is None:
            result = RunResult(run.run_id, "diverged", epochs=[
                EpochMetrics(0, 2.3, 2.3, 0.1), EpochMetrics(1, None, None, None)])
        else:
            result = RunResult(run.run_id, "finished", epochs=[
                EpochMetrics(0, 2.3, 2.3, 0.1), EpochMetrics(1, 0.5, 0.5, acc)])
        store.record(result, owner)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "results.sqlite") as opened:
        yield opened


def _rows(store):
    return {row["init"]: row
            for row in csv.DictReader(io.StringIO(summary_csv(summarize(store))))}


# ---------------------------------------------------------------- case S7


def test_s7_per_seed_statistics():
    stats = describe(S7)
    assert stats.n == 5
    assert stats.mean == pytest.approx(0.90, abs=1e-12)
    assert stats.std == pytest.approx(0.0790569, abs=5e-8)
    assert stats.se == pytest.approx(0.0353553, abs=5e-8)
    assert stats.median == pytest.approx(0.90, abs=1e-12)
    assert stats.ci_low == pytest.approx(0.801838, abs=5e-7)
    assert stats.ci_high == pytest.approx(0.998162, abs=5e-7)
    assert "Student t" in stats.method


def test_s7_n_is_seeds_never_pooled_evaluations(store):
    # 200 evaluations per seed, correct in the proportion of that seed's accuracy
    pooled = np.concatenate([np.r_[np.ones(round(a * EVALUATIONS)),
                                   np.zeros(EVALUATIONS - round(a * EVALUATIONS))]
                             for a in S7])
    assert pooled.mean() == pytest.approx(0.90)
    _fill(store, {"he_normal": dict(enumerate(S7))})
    (cell,) = summarize(store)
    assert cell.stats.n == 5 and cell.stats == describe(S7)
    ours = cell.stats.ci_high - cell.stats.ci_low
    # treating the 1,000 evaluations as the sample is far too narrow
    wrong = st.t.interval(0.95, pooled.size - 1, loc=pooled.mean(),
                          scale=st.sem(pooled))
    assert ours / (wrong[1] - wrong[0]) > 5
    # and so is dividing the per-seed spread by sqrt(1000)
    assert ours / (2 * 1.96 * cell.std / np.sqrt(pooled.size)) > 20
    row = _rows(store)["he_normal"]
    assert float(row["ci95_low"]) == pytest.approx(0.801838, abs=5e-7)
    assert float(row["ci95_high"]) == pytest.approx(0.998162, abs=5e-7)
    assert float(row["test_acc_se"]) == pytest.approx(0.0353553, abs=5e-8)
    assert float(row["test_acc_median"]) == 0.9


def test_s7_one_seed_is_undefined_and_tests_are_refused(store):
    stats = describe([0.9])
    assert (stats.n, stats.mean, stats.median) == (1, 0.9, 0.9)
    assert stats.std is None and stats.se is None
    assert stats.ci_low is None and stats.ci_high is None and not stats.defined
    test = paired_test({0: 0.9}, {0: 0.8})
    assert test.p is None and test.t is None and "needs 2" in test.note
    _fill(store, {"he_normal": {0: 0.9}, "zeros": {0: 0.1}})
    rows = _rows(store)
    for column in ("test_acc_std", "test_acc_se", "ci95_low", "ci95_high",
                   "p_vs_best", "p_holm"):
        assert rows["he_normal"][column] == "" and rows["zeros"][column] == ""
    assert rows["zeros"]["label"] == "undefined"
    assert rows["he_normal"]["label"] == "best"


def test_s7_paired_against_welch():
    a = dict(enumerate(S7))
    b = {seed: value + S7_SHIFT[seed] for seed, value in a.items()}
    test = paired_test(b, a)
    assert test.p == pytest.approx(1.45e-4, rel=5e-3)
    assert test.n == 5 and test.diff == pytest.approx(0.01)
    assert welch_test(list(b.values()), list(a.values())) == pytest.approx(
        0.846, abs=5e-4)
    assert (test.only_a, test.only_b) == ((), ())


def test_s7_missing_seeds_are_named(store):
    a = dict(enumerate(S7))
    b = {seed: value + S7_SHIFT[seed] for seed, value in a.items() if seed != 2}
    test = paired_test(a, b)
    assert test.seeds == (0, 1, 3, 4) and test.only_a == (2,) and test.only_b == ()
    _fill(store, {"glorot_uniform": b, "he_normal": a})
    write_report(store, store.path.parent, html=False)
    report = (store.path.parent / "report.md").read_text()
    assert ("he_normal vs glorot_uniform: seeds left out of the pairing "
            "(he_normal only: 2); 4 pair(s) used.") in report
    assert _rows(store)["he_normal"]["unpaired_seeds"] == "this only: 2"
    assert _rows(store)["he_normal"]["n_paired"] == "4"


def test_s7_output_states_n_method_and_what_plus_minus_means(store):
    _fill(store, {"he_normal": dict(enumerate(S7))})
    write_report(store, store.path.parent, html=False)
    report = (store.path.parent / "report.md").read_text()
    assert "n is the number of seeds" in report
    assert "Student t interval of the mean over seeds" in report
    assert "`±` is the sample standard deviation over seeds (ddof = 1), not the " \
           "standard error" in report
    assert "paired t-test" in report and "Holm" in report
    assert "| 1 | he_normal | 5 | 0 | 0.9000 ± 0.0791 | [0.8018, 0.9982] | 0.0354 |" \
        in report


# ------------------------------------------------------- tests and labels


def test_holm_against_a_hand_computed_example():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.02, None, 0.5]) == [pytest.approx(0.04), None, 0.5]
    assert holm([0.9, 0.8]) == [1.0, 1.0]
    assert holm([]) == []


def test_labels_better_worse_indistinguishable():
    rng = np.random.default_rng(0)
    best = {seed: 0.9 + 0.01 * rng.standard_normal() for seed in range(8)}
    worse = {s: v - 0.05 + 0.002 * rng.standard_normal() for s, v in best.items()}
    close = {s: v + 0.01 * rng.standard_normal() for s, v in best.items()}
    one = {0: 0.95}
    comparisons = compare_to_best([best, close, worse, one])
    assert [c.label for c in comparisons] == ["best", "indistinguishable", "worse",
                                              "undefined"]
    assert comparisons[0].test is None and comparisons[0].best == 0
    assert comparisons[2].p_holm == pytest.approx(
        min(1.0, 2 * comparisons[2].test.p))  # two defined p-values in the family
    assert comparisons[3].test.n == 1 and comparisons[3].p_holm is None
    # a cell ahead of the best on its common seeds is "better"
    ahead = {s: v + 0.05 + 0.002 * rng.standard_normal() for s, v in best.items()}
    assert compare_to_best([best, ahead])[1].label == "better"


def test_groups_are_compared_with_their_own_best():
    a = {0: 0.9, 1: 0.91, 2: 0.92}
    b = {0: 0.5, 1: 0.52, 2: 0.49}
    comparisons = compare_to_best([a, b, b, a], groups=["x", "y", "x", "y"])
    assert [c.label for c in comparisons] == ["best", "best", "worse", "better"]
    assert [c.best for c in comparisons] == [0, 1, 0, 1]


def test_degenerate_differences_are_not_tested():
    same = paired_test({0: 0.5, 1: 0.6, 2: 0.7}, {0: 0.5, 1: 0.6, 2: 0.7})
    assert same.p is None and same.identical and same.diff == 0.0
    shift = {0: 0.5 + 1 / 360, 1: 0.6 + 1 / 360, 2: 0.7 + 1 / 360}
    constant = paired_test(shift, {0: 0.5, 1: 0.6, 2: 0.7})
    assert constant.p is None and not constant.identical
    assert "on every common seed" in constant.note
    labels = [c.label for c in compare_to_best([{0: 0.5, 1: 0.6, 2: 0.7},
                                                {0: 0.5, 1: 0.6, 2: 0.7}])]
    assert labels == ["best", "indistinguishable"]
    assert compare_to_best([shift, {0: 0.5, 1: 0.6, 2: 0.7}])[1].label == "undefined"


def test_no_common_seed_is_refused():
    test = paired_test({0: 0.5, 1: 0.6}, {2: 0.5, 3: 0.7})
    assert test.p is None and test.n == 0 and test.diff is None
    assert test.only_a == (0, 1) and test.only_b == (2, 3)
    comparison = Comparison("undefined", 0, test)
    assert comparison.missing == "best only: 2, 3; this only: 0, 1"


def test_describe_refuses_nonfinite_values():
    with pytest.raises(ValueError, match="finite"):
        describe([0.5, float("nan")])
    assert describe([]).mean is None


def test_diverged_runs_are_shown_and_left_out_of_the_pairs(store):
    _fill(store, {"he_normal": {0: 0.9, 1: 0.92, 2: 0.91},
                  "zeros": {0: 0.1, 1: None, 2: 0.12}})
    rows = _rows(store)
    assert rows["zeros"]["n_diverged"] == "1" and rows["zeros"]["n_paired"] == "2"
    assert rows["zeros"]["unpaired_seeds"] == "best only: 1"
    write_report(store, store.path.parent, html=False)
    report = (store.path.parent / "report.md").read_text()
    assert "zeros: 1 diverged run(s) (seed 1), excluded from the statistics." in report
