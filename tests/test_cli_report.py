"""`initlab study` output for people and scripts, and `initlab report DIR`."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from initlab.cli import app

cli = CliRunner()
SMALL = ("study", "--inits", "glorot_uniform,zeros", "--seeds", "2", "--epochs", "1")


def invoke(*args: str):
    return cli.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "study"
    return out, invoke(*SMALL, "--out", str(out))


def test_progress_table_and_one_summary_line(small):
    out, result = small
    assert result.exit_code == 0, result.output
    assert "4/4 runs" in result.stderr and "left" in result.stderr
    assert "95% CI (t)" in result.stdout and "vs best" in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("4 runs")]
    assert len(lines) == 1
    assert re.fullmatch(r"4 runs \(4 finished\) in \d+ s: trained 4 run\(s\), skipped "
                        r"0 already done; seed 0\. Results and report\.html in "
                        + re.escape(str(out)), lines[0])
    assert (out / "report.html").is_file()


def test_quiet_prints_nothing_but_errors(tmp_path):
    out = tmp_path / "quiet"
    result = invoke(*SMALL, "--out", str(out), "--quiet")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""
    assert (out / "summary.csv").is_file() and (out / "report.html").is_file()
    bad = invoke(*SMALL, "--seeds", "0", "--out", str(out), "--quiet")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: Invalid --seeds 0")


def test_quiet_still_reports_failed_runs(tmp_path, monkeypatch):
    from initlab.study import train as study_train

    def broken(run, model):
        raise RuntimeError("optimizer on fire")

    monkeypatch.setattr(study_train, "_optimizer", broken)
    result = invoke(*SMALL, "--out", str(tmp_path / "failed"), "--quiet")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("optimizer on fire") == 4
    assert "4 run(s) failed" in result.stderr


def test_report_rebuilds_the_files_without_training(small):
    out, _ = small
    before = {path.name: path.read_bytes() for path in out.iterdir()
              if path.name != "results.sqlite" and path.is_file()}
    assert set(before) == {"summary.csv", "report.md", "curves.png", "report.html"}
    for name in before:
        (out / name).unlink()
    result = invoke("report", str(out))
    assert result.exit_code == 0, result.output
    assert "report rebuilt from" in result.stdout
    for name, data in before.items():
        assert (out / name).read_bytes() == data, name
    assert invoke("report", str(out), "--quiet").stdout == ""


def test_report_of_a_folder_without_a_study_is_bad_input(tmp_path):
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 2
    assert "results.sqlite is missing" in result.stderr
    (tmp_path / "results.sqlite").write_text("not a database")
    result = invoke("report", str(tmp_path))
    assert result.exit_code == 2 and "not an initlab results database" in result.stderr
