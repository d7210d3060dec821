"""Re-running one recorded run, and the spec that re-creates it.

A run row of ``results.sqlite`` holds every setting the run depends on: its init
entry's config, its run seed, the seeds of its initial weights and of its data
order (``init_seed``, ``order_seed``, from ``vary`` and the study's fixed seed), its
data file and the file's SHA-256, and how it trained (sequential, or batched with
the seeds of its group, at its thread count). :func:`recorded_spec` rebuilds the
one-run :class:`~initlab.study.spec.StudySpec` that names the same run (the same
run id), and :func:`replay_run` trains it again into a new folder and compares its
per-epoch metrics with the recorded ones, bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab.study.sources import DataSource
from initlab.study.spec import RunSpec, StudySpec
from initlab.study.store import RESULTS_FILE, Store

__all__ = ["ReplayOutcome", "read_run", "recorded_spec", "replay_run"]


def _connect(folder: Path) -> sqlite3.Connection:
    path = Path(folder) / RESULTS_FILE
    if not path.is_file():
        raise ValueError(f"No study in {str(folder)!r}: {RESULTS_FILE} is missing. "
                         "Accepted: a folder written by initlab study.")
    Store.check_file(path)
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def read_run(folder: str | Path, run_id: str) -> tuple[dict[str, Any],
                                                       list[dict[str, Any]]]:
    """The row of run ``run_id`` (or a unique prefix of it, 4 characters or more)
    and its epochs.

    Raises:
        ValueError: no study in ``folder``, or no (or no unique) such run.
    """
    run_id = run_id.strip()
    db = _connect(Path(folder))
    try:
        rows = [dict(row) for row in db.execute(
            "SELECT * FROM runs WHERE run_id LIKE ? ORDER BY run_id",
            (run_id.replace("%", "").replace("_", "") + "%",))]
        if len(run_id) < 4 or not rows:
            some = [row[0] for row in db.execute(
                "SELECT run_id FROM runs ORDER BY run_id LIMIT 3")]
            raise ValueError(
                f"No run {run_id!r} in {str(folder)!r}. Accepted: a run id of its "
                f"runs table (e.g. {', '.join(some) or 'none: it holds no runs'}), or "
                "a unique prefix of 4 characters or more."
            )
        if len(rows) > 1:
            raise ValueError(
                f"Run id prefix {run_id!r} matches {len(rows)} runs in "
                f"{str(folder)!r} ({', '.join(r['run_id'] for r in rows[:3])}...); "
                "give more of it."
            )
        row = rows[0]
        epochs = [dict(e) for e in db.execute(
            "SELECT epoch, train_loss, test_loss, test_acc FROM epochs "
            "WHERE run_id = ? ORDER BY epoch", (row["run_id"],))]
    finally:
        db.close()
    return row, epochs


def recorded_spec(row: dict[str, Any]) -> StudySpec:
    """The one-run spec (``seeds=1``) that names the run of ``row``, same run id.

    Raises:
        ValueError: the run cannot be rebuilt (its data file is gone or changed, its
            init entry is unknown here, or its settings give another id: another
            stream version).
    """
    vary = row.get("vary") or "both"
    fixed = {"order": row.get("init_seed"), "init": row.get("order_seed")}.get(
        vary, row["seed"])
    source_text = row.get("data_source") or ""
    options: dict[str, Any] = {}
    dataset = row["dataset"]
    if source_text:
        source = DataSource.from_json(source_text)
        dataset = source.path
        if source.kind == "csv":
            options["label_column"] = source.label_column
        if source.kind == "idx":
            options["labels"] = source.labels
    spec = StudySpec(
        dataset=dataset, model=row["model"], inits=(json.loads(row["init_config"]),),
        seeds=1, seed=row["seed"], epochs=row["epochs"], depth=row["depth"],
        width=row["width"], activation=row["activation"],
        optimizer=row["optimizer"], lr=row["lr"], momentum=row["momentum"],
        batch_size=row["batch_size"], split_seed=row["split_seed"], vary=vary,
        fixed_seed=fixed if fixed is not None else row["seed"], **options,
    )
    run = spec.runs()[0]
    if run.run_id != row["run_id"]:
        if source_text and spec.source.to_json() != source_text:
            raise ValueError(
                f"Data file {spec.source.path!r} has changed since run "
                f"{row['run_id']} was recorded (its SHA-256 differs); restore it."
            )
        raise ValueError(
            f"Run {row['run_id']} cannot be rebuilt here: its recorded settings name "
            f"run {run.run_id} (stream version {row['stream_version']} recorded; "
            "is this another initlab?)."
        )
    return spec


@dataclass
class ReplayOutcome:
    """What :func:`replay_run` did.

    Attributes:
        run_id: The run.
        source: The folder it was recorded in.
        out: The folder of the replay.
        mode: The training mode it was recorded with (and replayed in).
        status: The replay's status.
        recorded: The recorded epochs ``(epoch, train_loss, test_loss, test_acc)``.
        replayed: The replay's epochs, in the same form.
        fingerprint: ``(recorded, replayed)`` fingerprints of the initial weights.
    """

    run_id: str
    source: Path
    out: Path
    mode: str
    status: str
    recorded: list[tuple] = field(default_factory=list)
    replayed: list[tuple] = field(default_factory=list)
    fingerprint: tuple[str | None, str | None] = (None, None)

    @property
    def identical(self) -> bool:
        """The same fingerprint and every epoch's metrics equal, bit for bit."""
        return (self.recorded == self.replayed
                and self.fingerprint[0] == self.fingerprint[1])

    @property
    def first_difference(self) -> int | None:
        """The first epoch whose metrics differ (None: none differ)."""
        for old, new in zip(self.recorded, self.replayed, strict=False):
            if old != new:
                return old[0]
        if len(self.recorded) != len(self.replayed):
            return min(len(self.recorded), len(self.replayed))
        return None

    def summary(self) -> str:
        what = f"replayed run {self.run_id} of {self.source} ({self.mode}) into " \
               f"{self.out}"
        if self.identical:
            return (f"{what}: fingerprint {self.fingerprint[1]} and all "
                    f"{len(self.replayed)} epochs' metrics equal the recorded ones, "
                    "bit for bit.")
        if self.fingerprint[0] != self.fingerprint[1]:
            return (f"{what}: the initial weights differ (fingerprint "
                    f"{self.fingerprint[1]}, recorded {self.fingerprint[0]}).")
        return (f"{what}: the metrics differ from the recorded ones from epoch "
                f"{self.first_difference} on.")


def _group(run: RunSpec, seeds: list[int], vary: str) -> list[RunSpec]:
    """The runs of a batched run's recorded group: the same cell, those seeds."""
    group = []
    for seed in seeds:
        init_seed = run.init_seed if vary == "order" else seed
        order_seed = run.order_seed if vary == "init" else seed
        group.append(dataclasses.replace(run, seed=seed, init_seed=init_seed,
                                         order_seed=order_seed))
    return group


def replay_run(folder: str | Path, run_id: str,
               out: str | Path | None = None) -> ReplayOutcome:
    """Train run ``run_id`` of the study in ``folder`` again, into ``out``.

    The run is rebuilt from its recorded settings and seeds and trained in its
    recorded mode (sequential, or batched with its recorded group) at its recorded
    thread count; ``out`` gets a results database and report holding that run.

    Args:
        folder: The study folder that recorded the run.
        run_id: The run's id, or a unique prefix (4 characters or more).
        out: The new folder. Defaults to ``<folder>-replay-<run id>``.

    Raises:
        ValueError: no such study or run, a run that cannot be rebuilt here, or
            an ``out`` that already holds it.
    """
    from initlab.study.report import write_report
    from initlab.study.runner import environment, validate_study
    from initlab.study.store import new_owner
    from initlab.study.train import RUN_THREADS, train_recorded

    folder = Path(folder)
    row, recorded = read_run(folder, run_id)
    spec = recorded_spec(row)
    run = spec.runs()[0]
    out = Path(out) if out is not None else folder.with_name(
        f"{folder.name}-replay-{run.run_id}")
    if out.resolve() == folder.resolve():
        raise ValueError(f"Invalid --out {str(out)!r}: it is the study that recorded "
                         "the run; give a new folder.")
    validate_study(spec, out, 1)
    mode = row.get("train_mode") or "sequential"
    group = None
    if mode == "batched":
        seeds = [int(s) for s in str(row.get("batch_seeds") or row["seed"]).split(",")]
        group = _group(run, seeds, spec.vary)
    out.mkdir(parents=True, exist_ok=True)
    with Store(out / RESULTS_FILE) as store:
        if store.statuses().get(run.run_id) in ("finished", "diverged"):
            raise ValueError(f"Invalid --out {str(out)!r}: it already holds run "
                             f"{run.run_id}; give a new folder.")
        store.write_meta({**environment(), "last_spec": json.dumps(spec.settings()),
                          "replay_of": f"{folder.resolve()}:{run.run_id}"})
        store.add_runs([run])
        owner = new_owner()
        if not store.claim(run.run_id, owner):
            raise ValueError(f"Run {run.run_id} is being trained in {str(out)!r} by "
                             "another process.")
        try:
            result = train_recorded(run, mode, group, row.get("threads") or RUN_THREADS)
        except BaseException:
            store.release([run.run_id], owner)
            raise
        store.record(result, owner)
        write_report(store, out)
    replayed = [(e.epoch, e.train_loss, e.test_loss, e.test_acc)
                for e in result.epochs]
    return ReplayOutcome(
        run.run_id, folder, out, mode, result.status,
        recorded=[(e["epoch"], e["train_loss"], e["test_loss"], e["test_acc"])
                  for e in recorded],
        replayed=replayed, fingerprint=(row.get("fingerprint"), result.fingerprint),
    )
