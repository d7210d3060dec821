"""The results database of a study: ``results.sqlite`` in the output folder.

Tables:

- ``runs``: one row per run, with its settings, ``status`` (pending, running,
  finished, diverged, failed), the fingerprint of its initial weights, the stream
  version, its final metrics, the error of a failed run, who ran it and when;
- ``epochs``: ``(run_id, epoch, train_loss, test_loss, test_acc)``, epoch 0 being the
  model before training; NULL stands for a value that is not finite;
- ``meta``: key/value pairs: schema version, library versions, thread settings.

Only driver processes write, in short transactions (WAL journal, busy timeout), so
several drivers can share one folder: each claims a run atomically before training
it, and a run is committed, with all its epochs, when it finishes. A run left
``running`` by a driver that died on this host is handed back exactly once.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import socket
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # train imports torch; the store itself does not need it
    from initlab.study.spec import RunSpec
    from initlab.study.train import RunResult

__all__ = [
    "RESULTS_FILE", "SCHEMA_VERSION", "SETTINGS", "InvalidStore",
    "NetworkFilesystemWarning", "Store", "filesystem_type", "network_filesystem",
    "new_owner",
]

RESULTS_FILE = "results.sqlite"
SCHEMA_VERSION = 1
#: How long a writer waits for another one's lock, in milliseconds.
BUSY_TIMEOUT_MS = 60_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    model TEXT NOT NULL,
    init TEXT NOT NULL,
    init_config TEXT NOT NULL,
    seed INTEGER NOT NULL,
    depth INTEGER NOT NULL,
    width INTEGER NOT NULL,
    activation TEXT NOT NULL,
    optimizer TEXT NOT NULL,
    lr REAL NOT NULL,
    momentum REAL NOT NULL,
    batch_size INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    split_seed INTEGER NOT NULL,
    stream_version INTEGER NOT NULL,
    vary TEXT NOT NULL DEFAULT 'both',
    init_seed INTEGER,
    order_seed INTEGER,
    data_source TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
        ('pending', 'running', 'finished', 'diverged', 'failed')),
    fingerprint TEXT,
    final_fingerprint TEXT,
    data_hash TEXT,
    test_acc REAL,
    test_loss REAL,
    train_loss REAL,
    diverged_epoch INTEGER,
    error TEXT,
    owner TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    duration_s REAL,
    threads INTEGER,
    interop_threads INTEGER,
    omp_num_threads TEXT,
    mkl_num_threads TEXT,
    train_mode TEXT,
    batch_seeds TEXT,
    executor TEXT,
    trained_by TEXT
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    epoch INTEGER NOT NULL,
    train_loss REAL,
    test_loss REAL,
    test_acc REAL,
    PRIMARY KEY (run_id, epoch)
);
"""

#: The settings columns of ``runs``, as :meth:`RunSpec.settings` names them.
SETTINGS = (
    "dataset", "model", "init", "init_config", "seed", "depth", "width", "activation",
    "optimizer", "lr", "momentum", "batch_size", "epochs", "split_seed",
    "stream_version", "vary", "init_seed", "order_seed", "data_source",
)
#: Columns of ``runs`` added after the first release of the schema: a database
#: without them gets them (once, in the transaction that creates the schema), with
#: the values its runs had (both sources from the run seed, a built-in dataset).
ADDED_COLUMNS = {
    "vary": ("TEXT NOT NULL DEFAULT 'both'", None),
    "init_seed": ("INTEGER", "seed"),
    "order_seed": ("INTEGER", "seed"),
    "data_source": ("TEXT NOT NULL DEFAULT ''", None),
    # how a run was trained: thread settings of its process, sequential or batched
    # (with the seeds of its group), where, and by which driver
    "omp_num_threads": ("TEXT", None),
    "mkl_num_threads": ("TEXT", None),
    "train_mode": ("TEXT", None),
    "batch_seeds": ("TEXT", None),
    "executor": ("TEXT", None),
    "trained_by": ("TEXT", None),
    "final_fingerprint": ("TEXT", None),  # the weights at the end of training
}


class InvalidStore(ValueError):
    """The output folder holds a file that is not an initlab results database."""


class NetworkFilesystemWarning(UserWarning):
    """The results database lies on a network filesystem, where SQLite's locks
    (and its WAL journal's shared memory) are unreliable."""


#: Filesystem types (as ``/proc/self/mountinfo`` names them) served over a network
#: or a VM share, where SQLite's file locking cannot be trusted.
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "lustre", "gpfs",
    "beegfs", "ceph", "glusterfs", "davfs", "fuse.sshfs", "fuse.glusterfs",
    "fuse.ceph", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "fuse.davfs2",
})

MOUNTINFO = "/proc/self/mountinfo"


def _unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` is a space)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def filesystem_type(path: str | Path, mountinfo: str | None = None) -> str | None:
    """The type of the filesystem holding ``path`` (or its nearest existing
    parent), from ``/proc/self/mountinfo``; None where that cannot be read."""
    if mountinfo is None:
        try:
            mountinfo = Path(MOUNTINFO).read_text()
        except OSError:
            return None
    target = Path(os.path.realpath(path))
    best: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 5:
            continue
        mount = Path(_unescape(fields[4]))
        fstype = fields[fields.index("-") + 1]
        if target == mount or mount in target.parents:
            depth = len(mount.parts)
            if best is None or depth >= best[0]:
                best = (depth, fstype)
    return best[1] if best else None


def network_filesystem(path: str | Path, mountinfo: str | None = None) -> str | None:
    """The network filesystem type holding ``path``, or None for a local one."""
    fstype = filesystem_type(path, mountinfo)
    if fstype is None:
        return None
    if fstype in NETWORK_FILESYSTEMS or fstype.split(".")[0] in NETWORK_FILESYSTEMS:
        return fstype
    return None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_owner() -> str:
    """A token naming this driver: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _add_columns(db: sqlite3.Connection) -> list[str]:
    """Add the :data:`ADDED_COLUMNS` that ``runs`` lacks, filling in their values;
    return the columns added."""
    present = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    added = []
    for column, (declaration, fill) in ADDED_COLUMNS.items():
        if column not in present:
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} {declaration}")
            if fill is not None:
                db.execute(f"UPDATE runs SET {column} = {fill}")
            added.append(column)
    return added


def _seeds_text(seeds: tuple[int, ...] | None) -> str | None:
    """A batched group's seeds as stored: comma-separated, in member order."""
    return None if seeds is None else ",".join(str(seed) for seed in seeds)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """An open ``results.sqlite``.

    Args:
        path: The database file; created with its schema when it does not exist.

    Raises:
        InvalidStore: ``path`` exists but is not an initlab results database, or
            has another schema version; the file is left untouched.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        existed = self.path.exists()
        if existed and not self.path.is_file():
            raise InvalidStore(f"{self.path} exists and is not a file.")
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None)
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if existed:
                self._check_existing()
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            with self._write() as db:
                # Creating or migrating the schema happens inside one write
                # transaction: of several processes opening a new file at once,
                # exactly one creates it and the others find it there.
                fresh = not db.execute("SELECT 1 FROM sqlite_master WHERE "
                                       "type = 'table' AND name = 'runs'").fetchone()
                # executescript would commit on its own: run the statements one by one
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                added = _add_columns(db)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))
                # who created or migrated the schema (a plain INSERT: a second
                # creation or migration would fail here instead of passing unseen)
                me = f"{socket.gethostname()}:{os.getpid()}"
                if fresh:
                    db.execute("INSERT INTO meta VALUES ('schema_created_by', ?)",
                               (me,))
                elif added:
                    db.execute("INSERT INTO meta VALUES (?, ?)",
                               (f"schema_migrated_by:{','.join(added)}", me))
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def check_file(cls, path: str | Path) -> None:
        """Check, read-only, that an existing ``path`` is a usable results database.

        Raises:
            InvalidStore: as the constructor would; nothing is written.
        """
        path = Path(path)
        if not path.exists():
            return
        if not path.is_file():
            raise InvalidStore(f"{path} exists and is not a file.")
        store = cls.__new__(cls)
        store.path = path
        store._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                    timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            store._check_existing()
        finally:
            store._db.close()

    def _check_existing(self) -> None:
        try:
            rows = self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            raise InvalidStore(
                f"{self.path} is not an initlab results database ({exc}); move it "
                "away or choose another --out."
            ) from None
        tables = {row[0] for row in rows}
        if not tables:
            return  # an empty file: a database about to be created
        if not {"meta", "runs", "epochs"} <= tables:
            raise InvalidStore(
                f"{self.path} is an SQLite database without initlab's tables "
                f"(found: {', '.join(sorted(tables))}); move it away or choose "
                "another --out."
            )
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise InvalidStore(
                f"{self.path} has schema version {row[0] if row else None!r}; this "
                f"initlab reads version {SCHEMA_VERSION}. Choose another --out."
            )

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction: it commits, or rolls back and raises."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------- writes

    def write_meta(self, items: dict[str, Any]) -> None:
        """Set ``meta`` keys (values are stored as text)."""
        with self._write() as db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [(key, str(value)) for key, value in items.items()])

    def add_runs(self, runs: Iterable[RunSpec]) -> int:
        """Insert the runs not yet in the table as ``pending``; return how many."""
        columns = ("run_id", *SETTINGS, "status", "created_at")
        now = _now()
        rows = []
        for run in runs:
            settings = run.settings()
            rows.append((run.run_id, *(settings[c] for c in SETTINGS), "pending", now))
        sql = (f"INSERT OR IGNORE INTO runs ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' * len(columns))})")
        with self._write() as db:
            before = db.total_changes
            db.executemany(sql, rows)
            return db.total_changes - before

    def claim(self, run_id: str, owner: str) -> bool:
        """Mark a pending (or failed) run ``running`` for ``owner``, atomically.

        Returns:
            True when this call claimed it; False when it is done or another
            driver holds it.
        """
        with self._write() as db:
            cursor = db.execute(
                "UPDATE runs SET status = 'running', owner = ?, started_at = ?, "
                "attempts = attempts + 1 "
                "WHERE run_id = ? AND status IN ('pending', 'failed')",
                (owner, _now(), run_id),
            )
            return cursor.rowcount == 1

    def release(self, run_ids: Iterable[str], owner: str) -> None:
        """Hand claimed but unfinished runs back (status ``pending``)."""
        with self._write() as db:
            db.executemany(
                "UPDATE runs SET status = 'pending', owner = NULL "
                "WHERE run_id = ? AND status = 'running' AND owner = ?",
                [(run_id, owner) for run_id in run_ids],
            )

    def reclaim_stale(self) -> list[str]:
        """Hand back the runs left ``running`` by dead drivers of this host.

        Each is handed back once: the update matches the dead owner's token, so a
        second driver doing the same finds nothing left to reclaim.
        """
        host = socket.gethostname()
        stale = []
        for row in self._db.execute(
            "SELECT run_id, owner FROM runs WHERE status = 'running'"
        ).fetchall():
            parts = (row["owner"] or "").split(":")
            if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
                continue
            if _alive(int(parts[1])):
                continue
            with self._write() as db:
                cursor = db.execute(
                    "UPDATE runs SET status = 'pending', owner = NULL "
                    "WHERE run_id = ? AND status = 'running' AND owner = ?",
                    (row["run_id"], row["owner"]),
                )
                if cursor.rowcount == 1:
                    stale.append(row["run_id"])
        return stale

    def record(self, result: RunResult, owner: str, executor: str = "local") -> bool:
        """Commit a run's result and epochs in one transaction.

        ``executor`` names where it trained (``local``, ``ray``); ``owner`` is kept
        as ``trained_by``.

        Returns:
            False when ``owner`` no longer holds the run (nothing is written).
        """
        return self.record_all([result], owner, executor)[0]

    def record_all(self, results: Iterable[RunResult], owner: str,
                   executor: str = "local") -> list[bool]:
        """Commit several runs' results in one transaction (a batched group's: a
        kill then leaves all of them recorded or none, so a resume trains the same
        group again).

        Returns:
            For each result, whether it was written (``owner`` held the run).
        """
        written = []
        with self._write() as db:
            for result in results:
                written.append(self._record(db, result, owner, executor))
        return written

    @staticmethod
    def _record(db: sqlite3.Connection, result: RunResult, owner: str,
                executor: str) -> bool:
        final = result.final
        diverged_epoch = final.epoch if result.status == "diverged" and final else None
        cursor = db.execute(
            "UPDATE runs SET status = ?, fingerprint = ?, data_hash = ?, "
            "test_acc = ?, test_loss = ?, train_loss = ?, diverged_epoch = ?, "
            "error = ?, owner = NULL, finished_at = ?, duration_s = ?, "
            "threads = ?, interop_threads = ?, omp_num_threads = ?, "
            "mkl_num_threads = ?, train_mode = ?, batch_seeds = ?, "
            "executor = ?, trained_by = ?, final_fingerprint = ? "
            "WHERE run_id = ? AND status = 'running' AND owner = ?",
            (result.status, result.fingerprint, result.data_hash,
             final.test_acc if final else None,
             final.test_loss if final else None,
             final.train_loss if final else None,
             diverged_epoch, result.error, _now(), result.duration_s,
             result.threads, result.interop_threads,
             getattr(result, "omp_num_threads", None),
             getattr(result, "mkl_num_threads", None),
             getattr(result, "mode", "sequential"),
             _seeds_text(getattr(result, "batch_seeds", None)),
             executor, owner, getattr(result, "final_fingerprint", None),
             result.run_id, owner),
        )
        if cursor.rowcount != 1:
            return False
        db.execute("DELETE FROM epochs WHERE run_id = ?", (result.run_id,))
        db.executemany(
            "INSERT INTO epochs VALUES (?, ?, ?, ?, ?)",
            [(result.run_id, e.epoch, e.train_loss, e.test_loss, e.test_acc)
             for e in result.epochs],
        )
        return True

    # --------------------------------------------------------------------- reads

    def meta(self) -> dict[str, str]:
        return {row["key"]: row["value"]
                for row in self._db.execute("SELECT key, value FROM meta")}

    def statuses(self) -> dict[str, str]:
        """``run_id -> status`` for every run in the table."""
        return {row["run_id"]: row["status"]
                for row in self._db.execute("SELECT run_id, status FROM runs")}

    def runs(self) -> list[dict[str, Any]]:
        """Every run as a dict, ordered by settings, init, then seed."""
        rows = self._db.execute(
            "SELECT * FROM runs ORDER BY dataset, model, init, depth, width, "
            "activation, optimizer, lr, momentum, batch_size, epochs, split_seed, "
            "seed, run_id"
        )
        return [dict(row) for row in rows]

    def epochs(self) -> list[dict[str, Any]]:
        """Every epoch row, ordered by run id and epoch."""
        rows = self._db.execute("SELECT * FROM epochs ORDER BY run_id, epoch")
        return [dict(row) for row in rows]
