"""`initlab study`: the acceptance study, resuming, reproducibility, bad input."""

from __future__ import annotations

import csv
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import initlab
from initlab.cli import app
from initlab.study import runner as study_runner
from initlab.study import train as study_train

FIRST_COLUMNS = ["dataset", "model", "init", "n_runs", "n_diverged", "test_acc_mean",
                 "test_acc_std", "test_acc_min", "test_acc_max", "best_seed"]
ACCEPTANCE = ["study", "--dataset", "digits", "--model", "mlp", "--inits",
              "glorot_uniform,he_normal,zeros", "--seeds", "3", "--epochs", "10"]
FILES = ("results.sqlite", "summary.csv", "report.md", "curves.png",
         "report.html")

cli = CliRunner()


def invoke(*args: str):
    return cli.invoke(app, list(args), catch_exceptions=False)


def summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "summary.csv", newline="") as handle:
        return {row["init"]: row for row in csv.DictReader(handle)}


def database(out: Path, sql: str, *args) -> list[tuple]:
    db = sqlite3.connect(out / "results.sqlite")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def metrics(out: Path) -> tuple[list[tuple], list[tuple]]:
    """Every result of every run, bit for bit (timestamps and durations left out)."""
    runs = database(out, "SELECT run_id, init, seed, status, fingerprint, data_hash, "
                         "test_acc, test_loss, train_loss FROM runs ORDER BY run_id")
    epochs = database(out, "SELECT * FROM epochs ORDER BY run_id, epoch")
    return runs, epochs


@pytest.fixture(scope="module")
def accepted(tmp_path_factory):
    """The acceptance study of the issue, run once for the module."""
    out = tmp_path_factory.mktemp("acceptance") / "study"
    result = invoke(*ACCEPTANCE, "--out", str(out))
    return out, result


# ------------------------------------------------------------------- acceptance


def test_acceptance_study_exits_0_and_writes_the_four_files(accepted):
    out, result = accepted
    assert result.exit_code == 0, result.output
    for name in FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert "glorot_uniform" in result.stdout and str(out) in result.stdout
    assert "trained 9 run(s), skipped 0" in result.stdout


def test_acceptance_accuracies(accepted):
    out, _ = accepted
    rows = summary(out)
    assert float(rows["glorot_uniform"]["test_acc_mean"]) >= 0.90
    assert float(rows["he_normal"]["test_acc_mean"]) >= 0.90
    assert float(rows["zeros"]["test_acc_mean"]) <= 0.30
    assert {row["n_runs"] for row in rows.values()} == {"3"}
    assert {row["n_diverged"] for row in rows.values()} == {"0"}


def test_summary_first_columns_and_ranking(accepted):
    out, _ = accepted
    with open(out / "summary.csv", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0][:10] == FIRST_COLUMNS
    means = [float(row[5]) for row in table[1:]]
    assert means == sorted(means, reverse=True)
    assert table[-1][2] == "zeros"
    assert {row[0] for row in table[1:]} == {"digits"}
    assert {row[1] for row in table[1:]} == {"mlp"}


def test_summary_statistics_equal_numpys_over_the_runs_in_sqlite(accepted):
    out, _ = accepted
    for init, row in summary(out).items():
        runs = database(out, "SELECT seed, test_acc FROM runs WHERE init = ? AND "
                             "status = 'finished' ORDER BY seed", init)
        seeds = [seed for seed, _ in runs]
        acc = np.array([value for _, value in runs])
        assert seeds == [0, 1, 2]
        assert float(row["test_acc_mean"]) == float(np.mean(acc))
        assert float(row["test_acc_std"]) == float(np.std(acc, ddof=1))
        assert float(row["test_acc_min"]) == float(np.min(acc))
        assert float(row["test_acc_max"]) == float(np.max(acc))
        assert int(row["best_seed"]) == seeds[int(np.argmax(acc))]


def test_final_metrics_are_the_last_epoch(accepted):
    out, _ = accepted
    rows = database(out, "SELECT r.test_acc, e.test_acc, r.test_loss, e.test_loss "
                         "FROM runs r JOIN epochs e ON e.run_id = r.run_id "
                         "AND e.epoch = r.epochs")
    assert len(rows) == 9
    assert all(a == b and c == d for a, b, c, d in rows)
    counts = database(out, "SELECT run_id, COUNT(*), MIN(epoch), MAX(epoch) "
                           "FROM epochs GROUP BY run_id")
    assert {row[1:] for row in counts} == {(11, 0, 10)}


def test_runs_table_records_settings_and_provenance(accepted):
    out, _ = accepted
    rows = database(out, "SELECT init, seed, status, fingerprint, stream_version, "
                         "split_seed, epochs, finished_at, optimizer, lr, batch_size "
                         "FROM runs")
    assert len(rows) == 9
    assert {(r[0], r[1]) for r in rows} == {
        (init, seed) for init in ("glorot_uniform", "he_normal", "zeros")
        for seed in range(3)}
    for _, _, status, fp, version, split, epochs, done, opt, lr, batch in rows:
        assert status == "finished" and len(fp) == 16 and done
        assert (version, split, epochs, opt, lr, batch) == (
            initlab.STREAM_VERSION, 0, 10, "adam", 0.003, 32)
    meta = dict(database(out, "SELECT key, value FROM meta"))
    assert meta["torch_version"] and meta["run_threads"] == "1"


def test_runs_with_one_seed_share_their_data_order(accepted):
    out, _ = accepted
    rows = database(out, "SELECT seed, COUNT(DISTINCT data_hash) FROM runs "
                         "GROUP BY seed")
    assert rows == [(0, 1), (1, 1), (2, 1)]
    assert len(database(out, "SELECT DISTINCT data_hash FROM runs")) == 3


def test_rerun_trains_nothing_and_changes_nothing(accepted, monkeypatch):
    out, _ = accepted
    before_csv = (out / "summary.csv").read_bytes()
    before = database(out, "SELECT * FROM runs ORDER BY run_id")
    before_epochs = database(out, "SELECT * FROM epochs ORDER BY run_id, epoch")

    def no_training(run):
        raise AssertionError(f"run {run.run_id} was trained again")

    monkeypatch.setattr(study_runner, "train_run", no_training)
    result = invoke(*ACCEPTANCE, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "trained 0 run(s), skipped 9 already done" in result.stdout
    assert (out / "summary.csv").read_bytes() == before_csv
    assert database(out, "SELECT * FROM runs ORDER BY run_id") == before
    assert database(out, "SELECT * FROM epochs ORDER BY run_id, epoch") == before_epochs


# ---------------------------------------------------------------- other studies


def test_a_diverged_run_is_a_result_not_a_crash(tmp_path):
    huge = '{"class_name": "RandomNormal", "config": {"stddev": 1e6}}'
    out = tmp_path / "div"
    result = invoke("study", "--inits", f"glorot_uniform,{huge}", "--optimizer", "sgd",
                    "--lr", "0.01", "--seeds", "2", "--epochs", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = summary(out)
    row = rows["random_normal(stddev=1000000.0)"]
    assert (row["n_runs"], row["n_diverged"], row["test_acc_mean"],
            row["test_acc_std"], row["best_seed"]) == ("2", "2", "", "", "")
    assert rows["glorot_uniform"]["n_diverged"] == "0"
    assert list(rows)[-1] == "random_normal(stddev=1000000.0)"  # ranked last
    statuses = database(out, "SELECT status, diverged_epoch, test_acc FROM runs "
                             "WHERE init LIKE 'random_normal%'")
    assert statuses == [("diverged", 1, None)] * 2
    assert "excluded" in (out / "report.md").read_text()


def test_seed_random_draws_and_records_the_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(initlab.seeds, "fresh_seed", lambda: 987654321)
    out = tmp_path / "random"
    result = invoke("study", "--inits", "zeros", "--seeds", "2", "--epochs", "1",
                    "--seed", "random", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "--seed 987654321 repeats it" in result.output
    assert database(out, "SELECT seed FROM runs ORDER BY seed") == [
        (987654321,), (987654322,)]
    meta = dict(database(out, "SELECT key, value FROM meta"))
    assert meta["last_seed_source"] == "random"


def test_quiet_prints_nothing(tmp_path):
    out = tmp_path / "quiet"
    result = invoke("study", "--inits", "ones", "--seeds", "1", "--epochs", "1",
                    "--out", str(out), "--quiet")
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""
    assert (out / "summary.csv").is_file()


def test_acceptance_report_renders_in_a_browser(accepted, report_browser):
    out, _ = accepted
    page = report_browser(out / "report.html")
    assert page["state"] == "complete" and len(page["images"]) == 2
    assert all(image["naturalWidth"] > 0 for image in page["images"])
    for table in ("summary-table", "per-seed-table", "diagnostics-table",
                  "environment-table"):
        assert page["tables"].get(table, 0) > 1, table


def test_default_out_resumes_the_same_study(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ("study", "--inits", "he_uniform", "--seeds", "1", "--epochs", "1")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("digits-mlp-") and len(folder.name) == 19
    assert (folder / "summary.csv").is_file()
    second = invoke(*args)
    assert "trained 0 run(s), skipped 1" in second.stdout
    assert list((tmp_path / "runs").iterdir()) == [folder]


def test_a_run_that_raises_is_failed_and_exits_1(tmp_path, monkeypatch):
    def broken(run, model):
        raise RuntimeError("optimizer on fire")

    monkeypatch.setattr(study_train, "_optimizer", broken)
    out = tmp_path / "failed"
    result = invoke("study", "--inits", "zeros", "--seeds", "1", "--epochs", "1",
                    "--out", str(out))
    assert result.exit_code == 1
    assert "optimizer on fire" in result.stderr and "1 run(s) failed" in result.stderr
    assert "Traceback" not in result.output
    ((status, error),) = database(out, "SELECT status, error FROM runs")
    assert status == "failed" and "optimizer on fire" in error
    monkeypatch.undo()
    retry = invoke("study", "--inits", "zeros", "--seeds", "1", "--epochs", "1",
                   "--out", str(out))
    assert retry.exit_code == 0 and "trained 1 run(s)" in retry.stdout


# -------------------------------------------------------------------- bad input


@pytest.mark.parametrize("args, named", [
    (["--dataset", "mnist"], "'mnist'"),
    (["--model", "resnet"], "'resnet'"),
    (["--inits", "glorot_unifrom"], "'glorot_unifrom'"),
    (["--inits", "he_normal,,zeros"], "he_normal,,zeros"),
    (["--inits", '{"class_name": "RandomNormal", "config": {"stddev": -1}}'],
     "stddev=-1"),
    (["--inits", '{"class_name": "RandomNormal"'], "unbalanced"),
    (["--inits", "he_normal,kaiming_normal"], "'kaiming_normal'"),
    (["--seeds", "0"], "--seeds 0"),
    (["--seeds", "-3"], "--seeds -3"),
    (["--seed", "abc"], "'abc'"),
    (["--seed", "-1"], "'-1'"),
    (["--epochs", "-1"], "--epochs -1"),
    (["--depth", "-1"], "--depth -1"),
    (["--width", "0"], "--width 0"),
    (["--activation", "swish"], "'swish'"),
    (["--optimizer", "rmsprop"], "'rmsprop'"),
    (["--lr", "0"], "--lr 0.0"),
    (["--lr", "nan"], "--lr nan"),
    (["--momentum", "0.9"], "--momentum 0.9"),
    (["--batch-size", "0"], "--batch-size 0"),
    (["--workers", "0"], "--workers 0"),
], ids=lambda value: " ".join(value) if isinstance(value, list) else None)
def test_bad_input_exits_2_naming_the_value(tmp_path, args, named):
    out = tmp_path / "never"
    result = invoke("study", *args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert named in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert any(word in result.stderr.lower() for word in ("accepted", "must", "once"))
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_foreign_results_file_is_refused_and_kept(tmp_path):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "results.sqlite").write_bytes(b"twelve years of lab notes")
    result = invoke("study", "--inits", "zeros", "--seeds", "1", "--out", str(out))
    assert result.exit_code == 2
    assert "not an initlab results database" in result.stderr
    assert (out / "results.sqlite").read_bytes() == b"twelve years of lab notes"
    assert sorted(p.name for p in out.iterdir()) == ["results.sqlite"]


def test_an_out_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    result = invoke("study", "--inits", "zeros", "--out", str(target))
    assert result.exit_code == 2 and "not a folder" in result.stderr
    assert target.read_text() == "keep me"


def test_the_installed_script_reports_bad_input_without_traceback(tmp_path):
    script = Path(sys.executable).parent / "initlab"
    command = [str(script)] if script.exists() else [sys.executable, "-m",
                                                      "initlab.cli"]
    proc = subprocess.run([*command, "study", "--inits", "nope", "--out",
                           str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "'nope'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


# -------------------------------------------------------- last: delete and redo


def test_deleting_the_folder_and_rerunning_gives_the_same_bits(accepted):
    out, _ = accepted
    before_metrics = metrics(out)
    before_csv = (out / "summary.csv").read_bytes()
    before_report = (out / "report.md").read_bytes()
    shutil.rmtree(out)
    result = invoke(*ACCEPTANCE, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "trained 9 run(s)" in result.stdout
    assert metrics(out) == before_metrics
    assert (out / "summary.csv").read_bytes() == before_csv
    assert (out / "report.md").read_bytes() == before_report
