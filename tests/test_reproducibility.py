"""Issue 4's clauses that cut across modules: a study in two fresh processes, and
initialization in any order."""

import sqlite3
import subprocess
import sys

import torch
from torch import nn

import initlab.torch


def _epochs(folder):
    with sqlite3.connect(folder / "results.sqlite") as db:
        rows = db.execute(
            "SELECT r.init, r.seed, e.epoch, e.train_loss, e.test_loss, e.test_acc "
            "FROM epochs e JOIN runs r ON r.run_id = e.run_id "
            "ORDER BY r.init, r.seed, e.epoch"
        ).fetchall()
        prints = db.execute("SELECT init, seed, fingerprint FROM runs "
                            "ORDER BY init, seed").fetchall()
    return rows, prints


def test_the_same_study_in_two_fresh_processes_gives_identical_epochs(tmp_path):
    folders = []
    for name in ("first", "second"):
        folder = tmp_path / name
        subprocess.run(
            [sys.executable, "-m", "initlab.cli", "study", "--inits",
             "he_normal,orthogonal", "--seeds", "2", "--epochs", "2", "--out",
             str(folder), "--quiet", "--workers", "1"],
            check=True, capture_output=True, text=True,
        )
        folders.append(folder)
    first, second = (_epochs(folder) for folder in folders)
    assert len(first[0]) == 2 * 2 * 3  # inits x seeds x (epoch 0 + 2 epochs)
    assert first == second  # floats compared exactly: bit for bit


def _model():
    return nn.ModuleDict({
        "encoder": nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8)),
        "rnn": nn.LSTM(8, 4),
        "head": nn.Linear(4, 3),
    })


def test_initialization_order_does_not_change_any_byte():
    whole = _model()
    initlab.torch.initialize(whole, "keras", seed=9)
    piecewise = _model()
    for name in ("head", "rnn", "encoder"):  # reverse order, one submodule at a time
        initlab.torch.initialize(piecewise[name], "keras", seed=9, prefix=f"{name}.")
    assert initlab.torch.fingerprint(piecewise) == initlab.torch.fingerprint(whole)
    for (name, a), (_, b) in zip(whole.named_parameters(),
                                 piecewise.named_parameters(), strict=True):
        assert torch.equal(a, b), name
