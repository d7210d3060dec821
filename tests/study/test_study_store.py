"""results.sqlite: schema, atomic claims, stale runs, refusing foreign files."""

import sqlite3
import subprocess
import sys
import textwrap

import pytest

from initlab.study.spec import StudySpec
from initlab.study.store import InvalidStore, Store, new_owner
from initlab.study.train import EpochMetrics, RunResult


def _runs(n_seeds=2, inits=("zeros", "ones")):
    return StudySpec(inits=inits, seeds=n_seeds, epochs=1).runs()


def _result(run, status="finished", acc=0.5):
    epochs = [EpochMetrics(0, 2.3, 2.3, 0.1), EpochMetrics(1, 1.0, 1.1, acc)]
    return RunResult(run.run_id, status, fingerprint="f" * 16, data_hash="d" * 16,
                     epochs=epochs)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "results.sqlite") as opened:
        yield opened


def test_schema_and_settings(store):
    db = sqlite3.connect(store.path)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {"runs", "epochs", "meta"} <= tables
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
    assert {"run_id", "dataset", "model", "init", "init_config", "seed", "depth",
            "width", "activation", "optimizer", "lr", "momentum", "batch_size",
            "epochs", "split_seed", "status", "fingerprint", "stream_version",
            "finished_at", "test_acc", "test_loss", "train_loss",
            "error"} <= columns
    assert [r[1] for r in db.execute("PRAGMA table_info(epochs)")] == [
        "run_id", "epoch", "train_loss", "test_loss", "test_acc"]
    db.close()
    assert store.meta()["schema_version"] == "1"
    assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_add_runs_is_idempotent_and_stores_the_settings(store):
    runs = _runs()
    assert store.add_runs(runs) == 4
    assert store.add_runs(runs) == 0
    rows = {row["run_id"]: row for row in store.runs()}
    for run in runs:
        row = rows[run.run_id]
        assert row["status"] == "pending"
        for key, value in run.settings().items():
            assert row[key] == value


def test_a_run_is_claimed_once(store):
    run = _runs()[0]
    store.add_runs([run])
    first, second = new_owner(), new_owner()
    assert store.claim(run.run_id, first)
    assert not store.claim(run.run_id, second)
    assert not store.record(_result(run), second)  # not its run: nothing written
    assert store.record(_result(run), first)
    assert not store.claim(run.run_id, second)  # finished runs stay finished
    row = store.runs()[0]
    assert (row["status"], row["test_acc"], row["owner"]) == ("finished", 0.5, None)
    assert row["finished_at"] is not None
    assert [(e["epoch"], e["test_acc"]) for e in store.epochs()] == [(0, 0.1),
                                                                     (1, 0.5)]


def test_failed_runs_are_retried_and_released_runs_are_pending(store):
    run, other = _runs()[:2]
    store.add_runs([run, other])
    owner = new_owner()
    assert store.claim(run.run_id, owner)
    failed = RunResult(run.run_id, "failed", error="RuntimeError: boom")
    assert store.record(failed, owner)
    assert store.statuses()[run.run_id] == "failed"
    assert store.claim(run.run_id, owner)
    assert store.claim(other.run_id, owner)
    store.release([other.run_id], owner)
    assert store.statuses()[other.run_id] == "pending"


def test_stale_runs_of_dead_drivers_are_reclaimed_exactly_once(store):
    runs = _runs()
    store.add_runs(runs)
    dead_pid = int(subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True).stdout)
    host = new_owner().split(":")[0]
    dead, alive = f"{host}:{dead_pid}:deadbeef", new_owner()
    assert store.claim(runs[0].run_id, dead)
    assert store.claim(runs[1].run_id, alive)
    assert store.claim(runs[2].run_id, f"elsewhere:{dead_pid}:cafe")  # other host
    assert store.reclaim_stale() == [runs[0].run_id]
    assert store.reclaim_stale() == []
    statuses = store.statuses()
    assert [statuses[r.run_id] for r in runs[:3]] == ["pending", "running", "running"]


def test_a_foreign_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "results.sqlite"
    path.write_bytes(b"not a database, but my thesis" * 100)
    before = path.read_bytes()
    with pytest.raises(InvalidStore, match="not an initlab results database"):
        Store.check_file(path)
    with pytest.raises(InvalidStore, match="not an initlab results database"):
        Store(path)
    assert path.read_bytes() == before


def test_an_other_sqlite_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "results.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE accounts (id INTEGER)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(InvalidStore, match="found: accounts"):
        Store(path)
    assert path.read_bytes() == before


def test_check_file_creates_nothing(tmp_path):
    Store.check_file(tmp_path / "results.sqlite")
    assert not (tmp_path / "results.sqlite").exists()


_WORKER = textwrap.dedent("""
    import sys, types
    from initlab.study.spec import StudySpec
    from initlab.study.store import Store, new_owner

    runs = StudySpec(inits=("zeros", "ones"), seeds=20, epochs=1).runs()
    owner = new_owner()
    claimed = 0
    with Store(sys.argv[1]) as store:  # every process creates the schema at once
        store.add_runs(runs)
        for run in runs:
            if store.claim(run.run_id, owner):
                final = types.SimpleNamespace(epoch=1, train_loss=1.0, test_loss=1.0,
                                              test_acc=0.5)
                result = types.SimpleNamespace(
                    run_id=run.run_id, status="finished", fingerprint=owner,
                    data_hash=None, epochs=[final], final=final, error=None,
                    duration_s=0.0, threads=1, interop_threads=1)
                assert store.record(result, owner)
                claimed += 1
    print(claimed)
""")


def test_concurrent_drivers_share_the_runs(tmp_path):
    path = tmp_path / "results.sqlite"
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    assert sum(int(out) for out, _ in outputs) == 40
    with Store(path) as store:
        runs = store.runs()
        assert len(runs) == 40
        assert {run["status"] for run in runs} == {"finished"}
        assert len(store.epochs()) == 40
