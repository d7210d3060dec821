"""Nothing lost (case S6): a study killed with a real SIGKILL and started again.

The kill test starts a study in a child process, waits until runs 1-5 are finished
and run 6 is inside its second epoch, sends SIGKILL, then starts two resumes at
once with the same ``initlab study`` command. Marked ``kill``; it runs in CI.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from initlab.study import runner, train
from initlab.study.runner import run_study
from initlab.study.spec import StudySpec

INITS = ("zeros", "glorot_uniform", "he_normal")
ARGS = {"inits": INITS, "seeds": 4, "epochs": 2}
CLI = ["--inits", ",".join(INITS), "--seeds", "4", "--epochs", "2", "--workers", "1",
       "--quiet"]
#: What must be equal, bit for bit, between a resumed study and an uninterrupted one.
RESULT_COLUMNS = ("run_id", "status", "fingerprint", "data_hash", "test_acc",
                  "test_loss", "train_loss", "train_mode", "threads")

# A driver that trains the study in this process and stops for good inside the
# second epoch of its 6th run, after touching a marker file: the test kills it there.
_DRIVER = textwrap.dedent("""
    import pathlib, sys, time
    from initlab.study import runner, train
    from initlab.study.spec import StudySpec

    out, marker = sys.argv[1], pathlib.Path(sys.argv[2])
    calls = [0]
    real_train_run, real_order = runner.train_run, train.epoch_order

    def counting(run, threads=1):
        calls[0] += 1
        return real_train_run(run, threads)

    def order(seed, epoch, n):
        if calls[0] == 6 and epoch == 2:  # run 6 has trained its first epoch
            marker.write_text(str(calls[0]))
            time.sleep(600)
        return real_order(seed, epoch, n)

    runner.train_run, train.epoch_order = counting, order
    spec = StudySpec(inits=INITS, seeds=4, epochs=2)
    runner.run_study(spec, out, workers=1)
""").replace("INITS", repr(INITS))


def _rows(path):
    db = sqlite3.connect(path / "results.sqlite")
    db.row_factory = sqlite3.Row
    runs = {row["run_id"]: dict(row) for row in db.execute("SELECT * FROM runs")}
    epochs = {}
    for row in db.execute("SELECT * FROM epochs ORDER BY run_id, epoch"):
        epochs.setdefault(row["run_id"], []).append(tuple(row))
    db.close()
    return runs, epochs


def _wait_for(path, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


@pytest.mark.kill
def test_a_sigkilled_study_resumes_without_losing_or_redoing_anything(tmp_path):
    spec = StudySpec(**ARGS)
    order = [run.run_id for run in spec.runs()]  # the order the driver trains them
    out, marker = tmp_path / "killed", tmp_path / "run6-in-epoch-2"
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, str(out), str(marker)],
                              stderr=subprocess.PIPE, text=True)
    try:
        reference = run_study(spec, tmp_path / "uninterrupted", workers=1)
        _wait_for(marker)
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        if driver.poll() is None and not marker.exists():
            driver.kill()
        _, errors = driver.communicate(timeout=30)
    assert driver.returncode == -signal.SIGKILL, errors
    assert reference.counts == {"finished": 12}

    before, epochs_before = _rows(out)
    statuses = [before[run_id]["status"] for run_id in order]
    assert statuses == ["finished"] * 5 + ["running"] + ["pending"] * 6
    victim = order[5]
    assert before[victim]["owner"].split(":")[1] == str(driver.pid)  # a dead driver
    assert victim not in epochs_before  # nothing of it was committed

    # two resumes at once, with the same command
    resumes = [subprocess.Popen([sys.executable, "-m", "initlab.cli", "study", *CLI,
                                 "--out", str(out)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in resumes]
    assert [proc.returncode for proc in resumes] == [0, 0], outputs

    after, epochs_after = _rows(out)
    expected, expected_epochs = _rows(tmp_path / "uninterrupted")
    assert sorted(run["status"] for run in after.values()) == ["finished"] * 12
    for index, run_id in enumerate(order):
        row = after[run_id]
        if index < 5:  # finished before the kill: untouched, finish time included
            assert row == before[run_id]
            assert epochs_after[run_id] == epochs_before[run_id]
        # every run has the bits of the uninterrupted study
        assert ([row[c] for c in RESULT_COLUMNS]
                == [expected[run_id][c] for c in RESULT_COLUMNS])
        assert epochs_after[run_id] == expected_epochs[run_id]
        # claimed once each; the interrupted run once more, by one resume only
        assert row["attempts"] == (2 if run_id == victim else 1), (index, row)
        assert row["owner"] is None
    trainers = {after[run_id]["trained_by"] for run_id in order[5:]}
    assert all(str(driver.pid) not in owner for owner in trainers)


def test_a_run_that_raised_is_failed_and_never_started_runs_run_next_time(
        tmp_path, monkeypatch):
    spec = StudySpec(inits=("zeros", "he_normal"), seeds=2, epochs=1)
    runs = spec.runs()
    victim = runs[1]
    real = train._train

    def boom(run, result):
        if run.run_id == victim.run_id:
            raise RuntimeError("boom in the training loop")
        real(run, result)

    def stop_after_three(done, total, result):
        if done == 3:
            raise KeyboardInterrupt  # Ctrl-C after the third run

    monkeypatch.setattr(train, "_train", boom)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, tmp_path, workers=1, progress=stop_after_three)
    rows, _ = _rows(tmp_path)
    assert [rows[run.run_id]["status"] for run in runs] == [
        "finished", "failed", "finished", "pending"]
    error = rows[victim.run_id]["error"]
    assert error.startswith("RuntimeError: boom in the training loop")
    assert "Traceback" in error

    monkeypatch.setattr(train, "_train", real)
    outcome = run_study(spec, tmp_path, workers=1)
    assert (outcome.trained, outcome.skipped, outcome.counts) == (
        2, 2, {"finished": 4})
    rows, _ = _rows(tmp_path)
    assert rows[victim.run_id]["error"] is None
    assert [rows[run.run_id]["attempts"] for run in runs] == [1, 2, 1, 1]


def test_a_killed_batched_group_is_trained_again_as_the_same_group(tmp_path):
    spec = StudySpec(inits=("he_normal",), seeds=3, epochs=2)
    run_study(spec, tmp_path / "whole", workers=1, batched=True)
    expected, expected_epochs = _rows(tmp_path / "whole")
    # the state a kill leaves: the whole group claimed by a dead driver
    out = tmp_path / "killed"
    run_study(spec, out, workers=1, batched=True)
    dead_pid = int(subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True).stdout)
    host = runner.new_owner().split(":")[0]
    db = sqlite3.connect(out / "results.sqlite")
    db.execute("UPDATE runs SET status = 'running', owner = ?, test_acc = NULL",
               (f"{host}:{dead_pid}:0badf00d",))
    db.execute("DELETE FROM epochs")
    db.commit()
    db.close()
    outcome = run_study(spec, out, workers=1, batched=True)
    assert (outcome.trained, outcome.counts) == (3, {"finished": 3})
    after, epochs_after = _rows(out)
    for run_id, row in after.items():
        assert row["batch_seeds"] == "0,1,2" and row["train_mode"] == "batched"
        assert ([row[c] for c in RESULT_COLUMNS]
                == [expected[run_id][c] for c in RESULT_COLUMNS])
        assert epochs_after[run_id] == expected_epochs[run_id]
