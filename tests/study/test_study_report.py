"""The report is computed from the database alone: statistics, ranking, files."""

import csv
import io

import numpy as np
import pytest

from initlab.study.report import (
    SUMMARY_COLUMNS,
    ranked_rows,
    summarize,
    summary_csv,
    write_report,
)
from initlab.study.spec import StudySpec
from initlab.study.store import Store, new_owner
from initlab.study.train import EpochMetrics, RunResult

FIRST_COLUMNS = ("dataset,model,init,n_runs,n_diverged,test_acc_mean,test_acc_std,"
                 "test_acc_min,test_acc_max,best_seed")


def _fill(store, accuracies, statuses=None):
    """Record fake results: ``accuracies[init]`` lists one accuracy per seed."""
    inits = tuple(accuracies)
    n_seeds = len(next(iter(accuracies.values())))
    runs = StudySpec(inits=inits, seeds=n_seeds, epochs=2).runs()
    store.add_runs(runs)
    owner = new_owner()
    for run in runs:
        acc = accuracies[run.init.label][run.seed]
        status = (statuses or {}).get((run.init.label, run.seed), "finished")
        if status == "pending":
            continue
        store.claim(run.run_id, owner)
        curve = [EpochMetrics(e, 2.0 / (e + 1), 2.1 / (e + 1), acc * e / 2)
                 for e in range(3)]
        if status == "diverged":
            curve[-1] = EpochMetrics(2, None, None, None)
        store.record(RunResult(run.run_id, status, epochs=curve,
                               error="X: y" if status == "failed" else None), owner)
    return runs


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "results.sqlite") as opened:
        yield opened


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_statistics_over_seeds_match_the_reference_case(store):
    # study-cases.md S7: mean 0.90, sample std 0.0790569.
    _fill(store, {"he_normal": [0.80, 0.85, 0.90, 0.95, 1.00]})
    (cell,) = summarize(store)
    assert cell.mean == pytest.approx(0.90, abs=1e-12)
    assert cell.std == pytest.approx(0.0790569, abs=1e-7)
    assert (cell.min, cell.max, cell.best_seed, cell.n_runs) == (0.80, 1.00, 4, 5)
    row = _rows(summary_csv([cell]))[0]
    values = np.array([0.80, 0.85, 0.90, 0.95, 1.00])
    assert float(row["test_acc_mean"]) == float(np.mean(values))
    assert float(row["test_acc_std"]) == float(np.std(values, ddof=1))


def test_one_run_has_an_undefined_std_written_empty(store):
    _fill(store, {"zeros": [0.1]})
    row = _rows(summary_csv(summarize(store)))[0]
    assert row["test_acc_std"] == ""
    assert row["test_acc_mean"] == "0.1" and row["n_runs"] == "1"
    assert ranked_rows(summarize(store))[1][0][4:6] == ["0.1000 ± undefined",
                                                        "undefined"]
    assert ranked_rows(summarize(store), compact=True)[1][0][4:8] == [
        "0.1000", "undefined", "n/a", "best"]


def test_diverged_runs_are_counted_and_excluded(store):
    _fill(store, {"glorot_uniform": [0.9, 0.2, 0.8]},
          statuses={("glorot_uniform", 1): "diverged"})
    (cell,) = summarize(store)
    assert (cell.n_runs, cell.n_diverged, cell.n) == (3, 1, 2)
    assert cell.mean == pytest.approx(0.85)
    assert cell.min == 0.8 and cell.best_seed == 0


def test_failed_and_pending_runs_are_left_out(store):
    _fill(store, {"ones": [0.5, 0.6, 0.7]},
          statuses={("ones", 0): "failed", ("ones", 2): "pending"})
    (cell,) = summarize(store)
    assert (cell.n_runs, cell.n_failed, cell.n_unfinished, cell.seeds) == (
        1, 1, 1, (1,))


def test_rows_are_ranked_by_mean_then_init_name(store):
    _fill(store, {"zeros": [0.5, 0.5], "he_normal": [0.9, 0.7],
                  "glorot_uniform": [0.8, 0.8], "ones": [0.1, 0.2]})
    rows = _rows(summary_csv(summarize(store)))
    assert [row["init"] for row in rows] == ["glorot_uniform", "he_normal", "zeros",
                                             "ones"]


def test_best_seed_ties_go_to_the_lowest_seed(store):
    _fill(store, {"zeros": [0.3, 0.9, 0.9]})
    assert summarize(store)[0].best_seed == 1


def test_summary_columns_and_determinism(store):
    _fill(store, {"zeros": [0.1, 0.2], "ones": [0.3, 0.25]})
    text = summary_csv(summarize(store))
    header = text.splitlines()[0]
    assert header.startswith(FIRST_COLUMNS + ",")
    assert tuple(header.split(",")) == SUMMARY_COLUMNS
    assert text == summary_csv(summarize(store))
    assert text.endswith("\n") and "\r" not in text


def test_write_report_makes_the_three_files(store, tmp_path):
    _fill(store, {"zeros": [0.1, 0.2], "he_normal": [0.9, 0.95]})
    write_report(store, tmp_path, html=False)
    assert not (tmp_path / "report.html").exists()
    report = (tmp_path / "report.md").read_text()
    assert "sample standard deviation over seeds" in report
    assert "| 1 | he_normal | 2 | 0 | 0.9250 ± 0.0354 |" in report
    assert "- epochs: 2" in report and "- seeds: 0, 1 (2 seeds)" in report
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = (tmp_path / "summary.csv").read_bytes()
    write_report(store, tmp_path, html=False)
    assert (tmp_path / "summary.csv").read_bytes() == first


def test_distribution_figure_zooms_in_when_a_cell_is_far_below(store):
    from initlab.study.report import _zoom_range, distribution_figure

    _fill(store, {"he_normal": [0.95, 0.96], "glorot_uniform": [0.94, 0.97],
                  "zeros": [0.1, 0.1]})
    cells = summarize(store)
    low, high = _zoom_range(cells)
    assert 0.9 < low < 0.94 and 0.97 < high < 1.0
    assert len(distribution_figure(cells).axes) == 2
    assert _zoom_range(cells[:2]) is None  # all near the best: one panel
    assert len(distribution_figure(cells[:2]).axes) == 1
