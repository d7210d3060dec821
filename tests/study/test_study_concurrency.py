"""Cooperating processes (case S5): many writers on one results file, several
``initlab study`` processes on one folder, and results on a network filesystem.

The 8- and 32-process tests are marked ``many_processes``; they run in CI.
"""

import sqlite3
import subprocess
import sys
import textwrap
import time
import warnings

import pytest

from initlab.study import runner
from initlab.study.runner import run_study
from initlab.study.spec import StudySpec
from initlab.study.store import (
    ADDED_COLUMNS,
    NetworkFilesystemWarning,
    Store,
    filesystem_type,
    network_filesystem,
)

WRITES = 50

# One writer: waits for the start signal, opens the fresh file (creating the schema
# at the same moment as every other writer), then commits WRITES transactions of
# one new run each; prints how many it committed. Any error exits non-zero.
_WRITER = textwrap.dedent("""
    import os, sys, time, types
    from initlab.study.store import SETTINGS, Store

    path, go, name = sys.argv[1], sys.argv[2], sys.argv[3]
    while not os.path.exists(go):
        time.sleep(0.005)

    def run(index):
        settings = {key: 0 for key in SETTINGS}
        settings.update(init="zeros", init_config="{}", dataset="digits", model="mlp",
                        activation="relu", optimizer="sgd", vary="both",
                        data_source="", seed=index)
        return types.SimpleNamespace(run_id=f"{name}-{index}",
                                     settings=lambda: settings)

    committed = 0
    with Store(path) as store:
        for index in range(WRITES):
            committed += store.add_runs([run(index)])  # one write transaction
    print(committed)
""").replace("WRITES", str(WRITES))


def _writers(tmp_path, processes):
    path, go = tmp_path / "results.sqlite", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(go),
                               f"p{index}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for index in range(processes)]
    time.sleep(0.5)
    go.touch()  # release them at once
    outputs = [proc.communicate(timeout=240) for proc in procs]
    return path, procs, outputs


@pytest.mark.many_processes
@pytest.mark.parametrize("processes", [8, 32])
def test_many_processes_write_one_fresh_file_and_nothing_vanishes(tmp_path,
                                                                  processes):
    path, procs, outputs = _writers(tmp_path, processes)
    assert [proc.returncode for proc in procs] == [0] * processes, outputs
    assert [int(out) for out, _ in outputs] == [WRITES] * processes
    db = sqlite3.connect(path)
    ids = [row[0] for row in db.execute("SELECT run_id FROM runs")]
    assert len(ids) == processes * WRITES == len(set(ids))
    assert set(ids) == {f"p{p}-{i}" for p in range(processes) for i in range(WRITES)}
    meta = dict(db.execute("SELECT key, value FROM meta"))
    pids = {proc.pid for proc in procs}
    creator = meta["schema_created_by"]  # written once, by the process that created it
    assert int(creator.split(":")[1]) in pids
    assert not [key for key in meta if key.startswith("schema_migrated_by")]
    columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    assert len(columns) == len(set(columns))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


@pytest.mark.many_processes
def test_an_old_schema_is_migrated_once_by_many_processes(tmp_path):
    path = tmp_path / "results.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)  # back to a database without the added columns
    for column in ADDED_COLUMNS:
        db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    db.execute("DELETE FROM meta WHERE key = 'schema_created_by'")
    db.commit()
    db.close()
    _, procs, outputs = _writers(tmp_path, 8)
    assert [proc.returncode for proc in procs] == [0] * 8, outputs
    db = sqlite3.connect(path)
    meta = dict(db.execute("SELECT key, value FROM meta"))
    migrated = [key for key in meta if key.startswith("schema_migrated_by")]
    assert migrated == [f"schema_migrated_by:{','.join(ADDED_COLUMNS)}"]
    assert int(meta[migrated[0]].split(":")[1]) in {proc.pid for proc in procs}
    columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    assert len(columns) == len(set(columns)) and set(ADDED_COLUMNS) <= set(columns)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 8 * WRITES
    db.close()


@pytest.mark.many_processes
def test_several_study_commands_on_one_folder_share_the_runs(tmp_path):
    out = tmp_path / "shared"
    command = [sys.executable, "-m", "initlab.cli", "study", "--inits",
               "zeros,he_normal", "--seeds", "6", "--epochs", "2", "--workers", "1",
               "--quiet", "--out", str(out)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], outputs
    with Store(out / "results.sqlite") as store:
        runs = store.runs()
        assert len(runs) == 12 and len({run["run_id"] for run in runs}) == 12
        assert {run["status"] for run in runs} == {"finished"}  # none lost
        assert [run["attempts"] for run in runs] == [1] * 12  # none done twice
        assert {run["owner"] for run in runs} == {None}
        assert len(store.epochs()) == 12 * 3
    # every process took part or found the work done; each printed nothing
    assert [out for out, _ in outputs] == ["", "", ""]

MOUNTINFO = textwrap.dedent(r"""
    22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
    41 22 0:40 / /mnt/lab\040share rw,relatime shared:20 - nfs4 srv:/export rw,vers=4.2
    42 41 0:41 / /mnt/lab\040share/local rw - tmpfs tmpfs rw
    43 22 0:42 / /home/u/remote rw - fuse.sshfs u@host:/data rw
""").strip()


def test_the_filesystem_of_a_path_is_read_from_mountinfo():
    assert filesystem_type("/mnt/lab share/runs/x", MOUNTINFO) == "nfs4"
    assert filesystem_type("/mnt/lab share/local/x", MOUNTINFO) == "tmpfs"
    assert filesystem_type("/srv/results", MOUNTINFO) == "ext4"
    assert network_filesystem("/mnt/lab share/runs", MOUNTINFO) == "nfs4"
    assert network_filesystem("/home/u/remote/study", MOUNTINFO) == "fuse.sshfs"
    assert network_filesystem("/mnt/lab share/local", MOUNTINFO) is None
    assert network_filesystem("/srv", MOUNTINFO) is None
    assert network_filesystem("/srv", "") is None


def test_a_results_path_on_a_network_filesystem_is_warned_about(tmp_path,
                                                                 monkeypatch):
    spec = StudySpec(inits=("zeros",), seeds=1, epochs=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a local folder: no warning
        run_study(spec, tmp_path / "local", workers=1)
    monkeypatch.setattr(runner, "network_filesystem", lambda path: "nfs4")
    with pytest.warns(NetworkFilesystemWarning, match=r"network filesystem \(nfs4\)"):
        outcome = run_study(spec, tmp_path / "remote", workers=1)
    assert outcome.counts == {"finished": 1}
