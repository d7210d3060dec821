"""run_study: refusing bad entries up front, resuming, worker processes."""

import sqlite3
import subprocess
import sys

import pytest
import torch

from initlab.study import runner, train
from initlab.study.models import build_model
from initlab.study.runner import check_entries, run_study, validate_study
from initlab.study.spec import StudySpec

SMALL = {"seeds": 2, "epochs": 2}


def _metrics(path):
    db = sqlite3.connect(path / "results.sqlite")
    runs = db.execute("SELECT run_id, status, fingerprint, data_hash, test_acc, "
                      "test_loss, train_loss, finished_at FROM runs "
                      "ORDER BY run_id").fetchall()
    epochs = db.execute("SELECT * FROM epochs ORDER BY run_id, epoch").fetchall()
    db.close()
    return runs, epochs


def _with_conv(name, n_features, n_classes, **kwargs):
    """The MLP with a convolution in front, to meet a kernel identity cannot fill."""
    mlp = build_model(name, n_features, n_classes, **kwargs)
    with torch.random.fork_rng(devices=[]):
        conv = torch.nn.Conv1d(1, 1, 3, padding=1)
    return torch.nn.Sequential(torch.nn.Unflatten(1, (1, n_features)), conv,
                               torch.nn.Flatten(), mlp)


def test_an_entry_that_cannot_initialize_the_model_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(train, "build_model", _with_conv)
    check_entries(StudySpec(inits=("orthogonal", "glorot_uniform"), seeds=1))
    spec = StudySpec(inits=("glorot_uniform", "identity"), seeds=1)
    with pytest.raises(ValueError, match="'identity' cannot initialize the mlp model"):
        run_study(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_validation_writes_nothing(tmp_path):
    out = tmp_path / "out"
    assert validate_study(StudySpec(inits=("zeros",)), out, 2) == (out, 2)
    assert not out.exists()
    with pytest.raises(ValueError, match="--workers 0"):
        validate_study(StudySpec(inits=("zeros",)), out, 0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        validate_study(StudySpec(inits=("zeros",)), tmp_path / "file")


def test_progress_reports_every_run(tmp_path):
    calls = []
    spec = StudySpec(inits=("zeros", "he_normal"), **SMALL)
    outcome = run_study(spec, tmp_path, workers=1,
                        progress=lambda done, total, r: calls.append((done, total, r)))
    assert [(d, t) for d, t, _ in calls] == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert calls[0][2] is None and all(r.status == "finished" for *_, r in calls[1:])
    assert (outcome.trained, outcome.skipped, outcome.counts) == (4, 0,
                                                                  {"finished": 4})
    again = run_study(spec, tmp_path, workers=1)
    assert (again.trained, again.skipped) == (0, 4)


def test_worker_processes_give_the_same_bits(tmp_path):
    spec = StudySpec(inits=("he_uniform",), **SMALL)
    run_study(spec, tmp_path / "here", workers=1)
    run_study(spec, tmp_path / "pool", workers=2)
    here, pool = _metrics(tmp_path / "here"), _metrics(tmp_path / "pool")
    assert [r[:7] for r in here[0]] == [r[:7] for r in pool[0]]
    assert here[1] == pool[1]
    assert ((tmp_path / "here" / "summary.csv").read_bytes()
            == (tmp_path / "pool" / "summary.csv").read_bytes())


def test_an_interrupted_run_is_redone_with_the_same_bits(tmp_path):
    spec = StudySpec(inits=("zeros", "glorot_normal"), **SMALL)
    run_study(spec, tmp_path, workers=1)
    runs_before, epochs_before = _metrics(tmp_path)
    victim = runs_before[1][0]
    dead_pid = int(subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True).stdout)
    host = runner.new_owner().split(":")[0]
    db = sqlite3.connect(tmp_path / "results.sqlite")
    db.execute("UPDATE runs SET status = 'running', owner = ?, test_acc = NULL "
               "WHERE run_id = ?", (f"{host}:{dead_pid}:0badf00d", victim))
    db.execute("DELETE FROM epochs WHERE run_id = ?", (victim,))
    db.commit()
    db.close()
    outcome = run_study(spec, tmp_path, workers=1)
    assert (outcome.trained, outcome.skipped) == (1, 3)
    runs_after, epochs_after = _metrics(tmp_path)
    assert epochs_after == epochs_before
    for before, after in zip(runs_before, runs_after, strict=True):
        assert before[:7] == after[:7]
        if before[0] != victim:
            assert before[7] == after[7]  # untouched, finish time included
