"""Problems (spirals, digits) and the report: table, markdown, figures."""

import numpy as np
import pytest

import initlab
from initlab.search import get_problem, spiral_data
from initlab.search._report import TABLE_COLUMNS, markdown, table_rows, write_report


def test_spirals_are_generated_from_their_stated_seed():
    x0, y0 = spiral_data(0)
    again, _ = spiral_data(0)
    other, _ = spiral_data(1)
    assert x0.shape == (200, 2) and y0.tolist() == [0.0] * 100 + [1.0] * 100
    np.testing.assert_array_equal(x0, again)
    assert not np.array_equal(x0, other)
    # The two spirals are the same curve turned by half a turn, before the noise.
    clean, _ = spiral_data(0, noise=0.0)
    np.testing.assert_allclose(clean[100:], -clean[:100], atol=1e-12)
    assert get_problem("spirals").data_seed == 0


def test_digits_is_a_subset_of_scikit_learns_digits():
    pytest.importorskip("sklearn")
    problem = get_problem("digits")
    assert problem.x.shape == (500, 64) and problem.x.max() <= 1.0
    assert sorted(set(problem.y.tolist())) == list(range(10))
    assert problem.network.sizes == (64, 16, 10)


@pytest.mark.parametrize("name", ["spirals", "digits"])
def test_every_method_runs_on_the_larger_problems(name):
    if name == "digits":
        pytest.importorskip("sklearn")
    result = initlab.search(name, seeds=2, budget=40, restarts=2)
    for method in result.methods.values():
        assert np.all(np.isfinite(method.final_loss))
        assert method.curves.shape[0] == 2


@pytest.fixture(scope="module")
def small():
    return initlab.search("xor", "gd,annealing", 6, budget=400, restarts=4)


def test_table_rows_follow_the_columns(small):
    rows = table_rows(small)
    assert [row[0] for row in rows] == ["gd", "annealing"]
    assert all(len(row) == len(TABLE_COLUMNS) for row in rows)
    gd = small.methods["gd"]
    assert rows[0][1] == f"{gd.n_success}/6 ({gd.success_rate:.2f})"


def test_markdown_states_budget_threshold_and_statistics(small):
    text = markdown(small)
    assert text.startswith("## Stochastic search: xor\n")
    for phrase in (
        "- budget: 400 loss evaluations per run",
        "below 0.1",
        "n = 6 seeds",
        "4 independent attempts of 100",
        "| method | solved |",
        "- gd: learning_rate=1.0",
    ):
        assert phrase in text


def test_write_report_draws_both_figures(small, tmp_path):
    paths = write_report(small, tmp_path / "report")
    for kind in ("curves", "restarts"):
        assert paths[kind].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "search_restarts.png" in paths["markdown"].read_text()
