"""Executors and thread counts (case S4): local processes and Ray train, only the
driver writes, every process pins torch's threads, every run records them.

The Ray test starts a local Ray instance (``ray.init(num_cpus=2,
include_dashboard=False)``); it is marked ``ray`` and runs in CI, where the test
extra installs Ray.
"""

import os
import sqlite3
import warnings

import pytest
import torch

from initlab.study import runner
from initlab.study.runner import (
    ThreadCountWarning,
    default_workers,
    run_study,
    validate_study,
)
from initlab.study.spec import StudySpec
from initlab.study.train import train_run

SPEC = StudySpec(inits=("he_uniform", "zeros"), seeds=2, epochs=2)
#: What must be equal, bit for bit, wherever a run trains at the same thread count.
BITS = ("run_id", "status", "fingerprint", "final_fingerprint", "data_hash",
        "test_acc", "test_loss", "train_loss", "train_mode", "batch_seeds", "threads")


def _runs(path):
    db = sqlite3.connect(path / "results.sqlite")
    db.row_factory = sqlite3.Row
    runs = [dict(row) for row in db.execute("SELECT * FROM runs ORDER BY run_id")]
    epochs = db.execute("SELECT * FROM epochs ORDER BY run_id, epoch").fetchall()
    db.close()
    return runs, [tuple(row) for row in epochs]


def _bits(path):
    runs, epochs = _runs(path)
    return [[run[key] for key in BITS] for run in runs], epochs


def test_the_default_is_one_worker_per_cpu():
    assert default_workers() == len(os.sched_getaffinity(0))


def test_every_run_records_its_thread_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    run_study(SPEC, tmp_path, workers=1)
    runs, _ = _runs(tmp_path)
    assert {(run["threads"], run["interop_threads"], run["omp_num_threads"],
             run["mkl_num_threads"], run["executor"], run["train_mode"])
            for run in runs} == {(1, torch.get_num_interop_threads(), "1", None,
                                  "local", "sequential")}
    assert all(run["final_fingerprint"] and run["trained_by"] for run in runs)


def test_two_threads_repeat_themselves_and_are_recorded():
    run = SPEC.runs()[0]
    before = torch.get_num_threads()
    first, second = train_run(run, threads=2), train_run(run, threads=2)
    assert torch.get_num_threads() == before  # restored
    assert first.threads == 2
    assert (first.final_fingerprint, first.epochs) == (second.final_fingerprint,
                                                       second.epochs)


def test_resuming_with_another_thread_count_warns(tmp_path):
    run_study(SPEC, tmp_path, workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_study(SPEC, tmp_path, workers=1)  # the same count: silent
    with pytest.warns(ThreadCountWarning, match="finished with 1 torch thread.*"
                      "trains with 2.*--threads 1"):
        outcome = run_study(SPEC, tmp_path, workers=1, threads=2)
    assert outcome.trained == 0
    more = StudySpec(inits=("he_uniform", "zeros"), seeds=3, epochs=2)
    with pytest.warns(ThreadCountWarning):
        outcome = run_study(more, tmp_path, workers=1, threads=2)
    assert outcome.trained == 2
    runs, _ = _runs(tmp_path)
    assert sorted(run["threads"] for run in runs) == [1, 1, 1, 1, 2, 2]


def test_local_worker_processes_train_batched_groups_to_the_same_bits(tmp_path):
    run_study(SPEC, tmp_path / "here", workers=1, batched=True)
    run_study(SPEC, tmp_path / "pool", workers=2, batched=True)
    assert _bits(tmp_path / "here") == _bits(tmp_path / "pool")
    runs, _ = _runs(tmp_path / "pool")
    assert {(run["train_mode"], run["batch_seeds"]) for run in runs} == {
        ("batched", "0,1")}
    assert len({run["trained_by"] for run in runs}) == 1  # the driver recorded all


def test_bad_executor_settings_are_refused_before_anything_is_written(tmp_path,
                                                                      monkeypatch):
    out = tmp_path / "never"
    for kwargs, message in [
        ({"executor": "spark"}, "Unknown --executor 'spark'. Accepted: local, ray."),
        ({"address": "ray://head:10001"}, "--address 'ray://head:10001' needs "
                                          "--executor ray"),
        ({"threads": 0}, "Invalid --threads 0"),
    ]:
        with pytest.raises(ValueError, match=message.replace(".", r"\.")):
            validate_study(SPEC, out, **kwargs)
    lstm = StudySpec(model="lstm", inits=("he_normal",), seeds=1, epochs=1)
    with pytest.raises(ValueError, match="--batched cannot train the lstm model: "
                       "Batched training cannot run LSTM"):
        run_study(lstm, out, batched=True)

    def no_ray():
        raise ValueError("--executor ray needs Ray, which is not installed")

    monkeypatch.setattr(runner, "_import_ray", no_ray)
    with pytest.raises(ValueError, match="needs Ray"):
        run_study(SPEC, out, executor="ray")
    assert not out.exists()


@pytest.mark.ray
def test_ray_gives_the_bits_of_the_local_executor(tmp_path):
    ray = pytest.importorskip("ray")
    run_study(SPEC, tmp_path / "local", workers=1)
    run_study(SPEC, tmp_path / "local-batched", workers=1, batched=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        outcome = run_study(SPEC, tmp_path / "ray", executor="ray")
        batched = run_study(SPEC, tmp_path / "ray-batched", executor="ray",
                            batched=True)
        assert ray.is_initialized()  # run_study leaves a Ray it did not start
    finally:
        ray.shutdown()
    assert outcome.counts == batched.counts == {"finished": 4}
    assert _bits(tmp_path / "ray") == _bits(tmp_path / "local")
    assert _bits(tmp_path / "ray-batched") == _bits(tmp_path / "local-batched")
    runs, _ = _runs(tmp_path / "ray")
    # Ray gives a task of one CPU OMP_NUM_THREADS=1; torch is pinned to 1 there too
    assert {(run["executor"], run["threads"], run["omp_num_threads"])
            for run in runs} == {("ray", 1, "1")}
    assert len({run["trained_by"] for run in runs}) == 1  # only the driver wrote


@pytest.mark.parametrize(("args", "named"), [
    (["--executor", "spark"], "Unknown --executor 'spark'. Accepted: local, ray."),
    (["--address", "ray://head:10001"], "--address 'ray://head:10001' needs "
                                        "--executor ray"),
    (["--threads", "0"], "Invalid --threads 0: it must be an integer >= 1."),
    (["--model", "lstm", "--batched"], "--batched cannot train the lstm model"),
    (["--replay", "abcd1234", "--from", "somewhere", "--batched"],
     "drop --inits, --seeds, --batched."),
], ids=["executor", "address", "threads", "batched-lstm", "replay-batched"])
def test_bad_execution_flags_exit_2_naming_the_value(tmp_path, args, named):
    from typer.testing import CliRunner

    from initlab.cli import app

    out = tmp_path / "never"
    result = CliRunner().invoke(app, ["study", "--inits", "he_normal", "--seeds", "1",
                                      *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert named in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == "" and not out.exists()
