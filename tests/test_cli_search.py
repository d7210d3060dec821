"""`initlab search`: the JSON figures issue 7 asks for, the table, the report files
and one-sentence refusals."""

import json

import pytest
from typer.testing import CliRunner

from initlab.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["search", *args], catch_exceptions=False)


def test_json_prints_the_figures_of_issue_7():
    result = invoke(
        "--problem",
        "xor",
        "--methods",
        "gd,sgd,annealing,genetic",
        "--seeds",
        "50",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["problem"] == "xor"
    assert summary["budget"] == 2000
    assert set(summary["methods"]) == {"gd", "sgd", "annealing", "genetic"}
    for stats in summary["methods"].values():
        for key in (
            "success_rate",
            "evals_to_success_median",
            "final_loss_median",
            "success_rate_by_restarts",
        ):
            assert key in stats
        assert list(stats["success_rate_by_restarts"]) == [str(k) for k in range(1, 11)]
    methods = summary["methods"]
    assert methods["gd"]["success_rate_by_restarts"]["10"] >= 0.99
    assert methods["annealing"]["success_rate"] >= 0.9
    assert methods["genetic"]["success_rate"] >= 0.9


def test_the_table_and_the_report_files(tmp_path):
    result = invoke(
        "--methods",
        "gd,genetic",
        "--seeds",
        "4",
        "--budget",
        "300",
        "--restarts",
        "3",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.stderr
    for text in ("initlab search: xor", "gd", "genetic", "300 loss evaluations"):
        assert text in result.stdout
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {
        "search.json",
        "search.md",
        "search_loss.png",
        "search_restarts.png",
    }
    markdown = (tmp_path / "search.md").read_text()
    assert markdown.startswith("## Stochastic search: xor\n\n### Settings")
    assert "![Loss against evaluations](search_loss.png)" in markdown
    assert json.loads((tmp_path / "search.json").read_text())["restart_budget"] == 100


def test_init_takes_a_config_and_zeros_never_solve():
    result = invoke(
        "--methods",
        "gd",
        "--seeds",
        "3",
        "--budget",
        "100",
        "--json",
        "--init",
        '{"class_name": "Zeros", "config": {}}',
    )
    assert result.exit_code == 0, result.stderr
    gd = json.loads(result.stdout)["methods"]["gd"]
    assert gd["success_rate"] == 0.0
    assert len(set(gd["per_seed"]["final_loss"])) == 1


@pytest.mark.parametrize(
    "args, named",
    [
        (["--problem", "mnist"], "'mnist'. Accepted: xor, spirals, digits."),
        (["--methods", "gd,adam"], "'adam'. Accepted: gd, sgd, annealing, genetic."),
        (["--seeds", "abc"], "--seeds 'abc': it must be an integer of at least 1."),
        (["--seeds", "0"], "--seeds '0': it must be an integer of at least 1."),
        (["--restarts", "-2"], "--restarts '-2'"),
        (["--budget", "1.5"], "--budget '1.5'"),
        (["--seed", "-1"], "--seed '-1': it must be an integer of at least 0."),
        (["--init", "glorot_unifrom"], "'glorot_unifrom'"),
        (["--init", "{bad json"], "Invalid initializer config JSON"),
        (["--budget", "4", "--restarts", "5"], "`restarts` (5) cannot exceed"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_code_2(args, named):
    result = invoke(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert named in lines[0]
