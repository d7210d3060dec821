"""`initlab study` with spec files, grids, --vary, --replay, data files, and
`initlab best`; the CNN, LSTM and MNIST-1D acceptance studies."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from initlab.cli import app

cli = CliRunner()


def invoke(*args: str):
    return cli.invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def rows(out: Path, sql: str, *args) -> list[tuple]:
    db = sqlite3.connect(out / "results.sqlite")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def summary(out: Path, name: str = "summary.csv") -> list[dict[str, str]]:
    with open(out / name, newline="") as handle:
        return list(csv.DictReader(handle))


def assert_refused(result, out: Path, *fragments: str) -> None:
    """Exit 2, one line on stderr naming the problem, nothing written."""
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.output
    assert not out.exists()


# ------------------------------------------------------------------ spec files


def test_a_spec_file_grid_gives_one_summary_row_per_cell(tmp_path):
    spec = tmp_path / "grid.toml"
    spec.write_text(
        'model = ["mlp", "cnn"]\nlr = [0.003, 0.01]\ninits = ["he_normal"]\n'
        'seeds = 2\nepochs = 5\n')
    out = tmp_path / "grid"
    result = invoke("study", spec, "--epochs", "1", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    table = summary(out)
    assert sorted((r["model"], r["lr"]) for r in table) == [
        ("cnn", "0.003"), ("cnn", "0.01"), ("mlp", "0.003"), ("mlp", "0.01")]
    assert {r["n_runs"] for r in table} == {"2"} and {r["width"] for r in table} == {
        "32", "64"}
    # The flag overrode the file: every run trained 1 epoch, not 5.
    assert rows(out, "SELECT DISTINCT epochs FROM runs") == [(1,)]
    assert rows(out, "SELECT COUNT(*) FROM runs") == [(8,)]


def test_flags_make_a_grid_too_and_rerunning_trains_nothing(tmp_path):
    out = tmp_path / "flags"
    args = ("study", "--inits", "zeros", "--seeds", "1", "--epochs", "1",
            "--activation", "relu,tanh", "--batch-size", "64", "--out", out)
    assert invoke(*args).exit_code == 0
    assert sorted(r["activation"] for r in summary(out)) == ["relu", "tanh"]
    again = invoke(*args)
    assert "trained 0 run(s), skipped 2 already done" in again.stdout


@pytest.mark.parametrize("text, fragments", [
    ('lrr = 0.1', ["Unknown key 'lrr'", "Accepted keys: dataset, model"]),
    ('lr = "fast"', ["lr = \"fast\"", "must be a real number"]),
    ('model = ["mlp", "rnn"]', ["model = \"rnn\"", "Accepted: mlp, cnn, lstm"]),
    ('optimizer = "adam"\nmomentum = 0.9', ["momentum = 0.9", "sgd only"]),
    ('dataset = "cifar10"', ["'cifar10'", "Accepted: digits, mnist1d"]),
    ('dataset = "iris"\nmodel = "cnn"', ["cannot read a table", "--model mlp"]),
    ('inits = ["glorot_unifrom"]', ["'glorot_unifrom'"]),
    ('seeds = 0', ["seeds = 0", "must be an integer >= 1"]),
    ('epochs = [5, 5]', ["5 is listed twice"]),
    ('model = "lstm"\ndepth = 0', ["--depth 0 with --model lstm", "must be"]),
], ids=lambda value: value if isinstance(value, str) else None)
def test_an_invalid_spec_is_refused_before_anything_runs(tmp_path, text, fragments):
    spec = tmp_path / "bad.toml"
    spec.write_text(text + "\n")
    out = tmp_path / "never"
    assert_refused(invoke("study", spec, "--out", out), out, *fragments)


def test_a_missing_spec_file_is_refused(tmp_path):
    out = tmp_path / "never"
    assert_refused(invoke("study", tmp_path / "none.toml", "--out", out), out,
                   "none.toml", "does not exist")


# ---------------------------------------------------------------------- --vary


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """The issue's --vary studies: he_normal, 5 seeds, 5 epochs, init and order."""
    base = tmp_path_factory.mktemp("vary")
    outs = {}
    for source in ("init", "order"):
        out = base / source
        result = invoke("study", "--dataset", "digits", "--model", "mlp", "--inits",
                        "he_normal", "--seeds", "5", "--epochs", "5", "--vary",
                        source, "--out", out)
        assert result.exit_code == 0, result.output
        assert "Spread of final test accuracy" in result.stdout
        outs[source] = out
    return outs


def test_vary_order_holds_the_initial_weights_fixed(varied):
    runs = rows(varied["order"], "SELECT seed, init_seed, order_seed, fingerprint, "
                                 "data_hash, vary FROM runs ORDER BY seed")
    assert [r[0] for r in runs] == [0, 1, 2, 3, 4]
    assert {r[1] for r in runs} == {0}  # the study's --seed
    assert [r[2] for r in runs] == [0, 1, 2, 3, 4]
    assert len({r[3] for r in runs}) == 1  # one fingerprint: the same start
    assert len({r[4] for r in runs}) == 5  # five data orders
    assert {r[5] for r in runs} == {"order"}


def test_vary_init_holds_the_data_order_fixed(varied):
    runs = rows(varied["init"], "SELECT seed, init_seed, order_seed, fingerprint, "
                                "data_hash FROM runs ORDER BY seed")
    assert [r[1] for r in runs] == [0, 1, 2, 3, 4] and {r[2] for r in runs} == {0}
    assert len({r[3] for r in runs}) == 5
    assert len({r[4] for r in runs}) == 1  # one data order hash


def test_the_spread_of_the_varied_source_is_reported(varied):
    for source, out in varied.items():
        accuracy = np.array([a for (a,) in rows(
            out, "SELECT test_acc FROM runs ORDER BY seed")])
        (cell,) = summary(out)
        assert cell["vary"] == source and cell["n_runs"] == "5"
        assert float(cell["test_acc_std"]) == float(np.std(accuracy, ddof=1))
        (spread,) = summary(out, "variance.csv")
        assert spread["init"] == "he_normal"
        assert float(spread[f"std_{source}"]) == float(np.std(accuracy, ddof=1))
        assert spread[f"n_{source}"] == "5"
        other = "order" if source == "init" else "init"
        assert spread[f"std_{other}"] == "" and spread["std_both"] == ""
        assert float(cell["test_acc_mean"]) > 0.85


def test_vary_order_runs_start_where_vary_both_run_zero_starts(varied, tmp_path):
    out = tmp_path / "both"
    invoke("study", "--inits", "he_normal", "--seeds", "1", "--epochs", "1",
           "--out", out, "--quiet")
    both = rows(out, "SELECT fingerprint FROM runs")
    assert both == rows(varied["order"], "SELECT DISTINCT fingerprint FROM runs")


# ------------------------------------------------------- --seed random, --replay


def test_seed_random_is_recorded_and_a_run_replays_bit_for_bit(tmp_path):
    first, second = tmp_path / "r1", tmp_path / "r2"
    for out in (first, second):
        result = invoke("study", "--inits", "glorot_uniform", "--seeds", "2",
                        "--epochs", "2", "--seed", "random", "--vary", "order",
                        "--model", "cnn", "--out", out)
        assert result.exit_code == 0, result.output
    seed_a, seed_b = (rows(o, "SELECT MIN(seed) FROM runs")[0][0]
                      for o in (first, second))
    assert seed_a != seed_b  # fresh entropy each time
    meta = dict(rows(first, "SELECT key, value FROM meta"))
    assert meta["last_seed_source"] == "random"
    assert json.loads(meta["last_spec"])["seed"] == seed_a
    runs = rows(first, "SELECT run_id, seed, init_seed, order_seed FROM runs "
                       "ORDER BY seed")
    assert [r[1] for r in runs] == [seed_a, seed_a + 1]
    assert {r[2] for r in runs} == {seed_a}  # vary order: init from the drawn seed
    run_id = runs[1][0]
    new = tmp_path / "replayed"
    result = invoke("study", "--replay", run_id, "--from", first, "--out", new)
    assert result.exit_code == 0, result.output
    assert "bit for bit" in result.stdout
    epochs = "SELECT epoch, train_loss, test_loss, test_acc FROM epochs " \
             "WHERE run_id = ? ORDER BY epoch"
    assert rows(new, epochs, run_id) == rows(first, epochs, run_id)
    assert len(rows(new, epochs, run_id)) == 3
    fingerprint = "SELECT fingerprint, data_hash FROM runs WHERE run_id = ?"
    assert rows(new, fingerprint, run_id) == rows(first, fingerprint, run_id)


def test_a_batched_run_replays_in_its_recorded_mode_bit_for_bit(tmp_path):
    out = tmp_path / "batched"
    result = invoke("study", "--batched", "--inits", "he_normal", "--seeds", "3",
                    "--epochs", "2", "--vary", "init", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    runs = rows(out, "SELECT run_id, train_mode, batch_seeds FROM runs ORDER BY seed")
    assert {(mode, group) for _, mode, group in runs} == {("batched", "0,1,2")}
    run_id = runs[2][0]
    new = tmp_path / "replayed"
    result = invoke("study", "--replay", run_id, "--from", out, "--out", new)
    assert result.exit_code == 0, result.output
    assert "(batched)" in result.stdout and "bit for bit" in result.stdout
    epochs = "SELECT epoch, train_loss, test_loss, test_acc FROM epochs " \
             "WHERE run_id = ? ORDER BY epoch"
    assert rows(new, epochs, run_id) == rows(out, epochs, run_id)


def test_replay_refuses_bad_requests(tmp_path):
    out = tmp_path / "small"
    invoke("study", "--inits", "zeros", "--seeds", "1", "--epochs", "1", "--out",
           out, "--quiet")
    never = tmp_path / "never"
    assert_refused(invoke("study", "--replay", "ffff0000", "--from", out, "--out",
                          never), never, "No run 'ffff0000'", "Accepted: a run id")
    assert_refused(invoke("study", "--replay", "abcd", "--out", never), never,
                   "--replay RUN_ID and --from DIR go together")
    (run_id,), = rows(out, "SELECT run_id FROM runs")
    assert_refused(invoke("study", "--replay", run_id, "--from", out, "--epochs",
                          "3", "--out", never), never, "drop --epochs")
    assert_refused(invoke("study", "--replay", run_id, "--from", tmp_path / "nope",
                          "--out", never), never, "No study in")


# ---------------------------------------------------------------------- best


def test_best_names_the_best_cell_and_run_and_writes_what_recreates_it(tmp_path):
    from initlab.study.best import load_weights
    from initlab.study.datasets import load_dataset
    from initlab.study.models import build_model
    from initlab.torch import fingerprint

    out = tmp_path / "study"
    result = invoke("study", "--inits", "he_normal,zeros", "--seeds", "3",
                    "--epochs", "2", "--width", "32,64", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    top = summary(out)[0]
    best_dir = tmp_path / "best"
    result = invoke("best", out, "--out", best_dir, "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["cell"]["init"] == top["init"] == "he_normal"
    assert found["cell"]["width"] == int(top["width"])
    assert found["test_acc_mean"] == float(top["test_acc_mean"])
    assert found["ci95"] == [float(top["ci95_low"]), float(top["ci95_high"])]
    assert found["seed"] == int(top["best_seed"])
    (run_id, acc, fp), = rows(out, "SELECT run_id, test_acc, fingerprint FROM runs "
                                   "WHERE init = 'he_normal' AND width = ? AND seed "
                                   "= ?", found["cell"]["width"], found["seed"])
    assert (found["run_id"], found["test_acc"], found["fingerprint"]) == (
        run_id, acc, fp)
    assert sorted(p.name for p in best_dir.iterdir()) == [
        "initial_weights.safetensors", "spec.json", "spec.toml"]

    # The safetensors weights, loaded into the run's model, give its fingerprint.
    data = load_dataset("digits", 0)
    model = build_model("mlp", data.n_features, data.n_classes, depth=2,
                        width=found["cell"]["width"], input_shape=data.shape)
    metadata = load_weights(model, best_dir / "initial_weights.safetensors")
    assert fingerprint(model) == fp and metadata["run_id"] == run_id

    # The spec trains the same run again, bit for bit.
    again = tmp_path / "again"
    result = invoke("study", best_dir / "spec.toml", "--out", again, "--quiet")
    assert result.exit_code == 0, result.output
    assert rows(again, "SELECT run_id, fingerprint FROM runs") == [(run_id, fp)]
    epochs = "SELECT * FROM epochs WHERE run_id = ? ORDER BY epoch"
    assert rows(again, epochs, run_id) == rows(out, epochs, run_id)
    assert json.loads((best_dir / "spec.json").read_text())["seed"] == found["seed"]

    text = invoke("best", out, "--out", tmp_path / "best2")
    assert "best cell: digits / mlp / he_normal" in text.stdout
    assert "95 % CI" in text.stdout


def test_best_of_a_folder_without_a_study_is_refused(tmp_path):
    result = invoke("best", tmp_path)
    assert result.exit_code == 2 and "No study in" in result.stderr


# ------------------------------------------------------------------ data files


def test_a_csv_study_with_a_named_label_column(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["f1,f2,species,f3"]
    for i in range(60):
        label = i % 3
        f = rng.normal(size=3) + label * 3
        lines.append(f"{f[0]:.4f},{f[1]:.4f},{label},{f[2]:.4f}")
    path = tmp_path / "flowers.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "csv"
    result = invoke("study", "--dataset", path, "--label-column", "species",
                    "--inits", "glorot_uniform", "--seeds", "2", "--epochs", "20",
                    "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    (row,) = summary(out)
    assert row["dataset"] == "flowers.csv" and float(row["test_acc_mean"]) > 0.8
    source = json.loads(rows(out, "SELECT DISTINCT data_source FROM runs")[0][0])
    assert source["label_column"] == "species" and source["kind"] == "csv"
    never = tmp_path / "never"
    assert_refused(invoke("study", "--dataset", path, "--label-column", "species",
                          "--model", "cnn", "--out", never), never,
                   "flowers.csv is a table")
    assert_refused(invoke("study", "--dataset", path, "--out", never), never,
                   "has no column 'label'", "--label-column")


def test_an_npz_image_study_trains_the_cnn_and_lstm(tmp_path):
    rng = np.random.default_rng(1)
    y = np.arange(80) % 2
    x = rng.integers(0, 60, size=(80, 6, 6)).astype(np.uint8)
    x[y == 1, 2:4, :] = 250  # class 1: a bright band
    np.savez(tmp_path / "bands.npz", x=x, y=y)
    out = tmp_path / "npz"
    result = invoke("study", "--dataset", tmp_path / "bands.npz", "--model",
                    "cnn,lstm", "--inits", "he_uniform", "--seeds", "1", "--epochs",
                    "5", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert {r["model"]: float(r["test_acc_mean"]) > 0.9 for r in summary(out)} == {
        "cnn": True, "lstm": True}


@pytest.mark.parametrize("case", ["npz_missing", "npz_mismatch", "npz_labels",
                                  "csv_labels", "empty", "idx_count"])
def test_a_bad_data_file_is_one_sentence_and_exit_2(tmp_path, case):
    path = tmp_path / ("data.csv" if case == "csv_labels" else "data.npz")
    if case == "npz_missing":
        np.savez(path, x=np.zeros((10, 2)))
        fragment = "has no array 'y'"
    elif case == "npz_mismatch":
        np.savez(path, x=np.zeros((10, 2)), y=np.zeros(8, dtype=int))
        fragment = "10 examples in 'x' but 8 labels"
    elif case == "npz_labels":
        np.savez(path, x=np.zeros((10, 2)), y=np.linspace(0, 1, 10))
        fragment = "that is not an integer"
    elif case == "csv_labels":
        path.write_text("a,label\n1,x\n2,y\n")
        fragment = "the label 'x' on line 2"
    elif case == "empty":
        path.write_bytes(b"")
        fragment = "is empty"
    else:
        from tests.study.test_study_files import write_idx

        images, labels = write_idx(tmp_path, np.zeros((5, 2, 2), np.uint8),
                                   np.arange(4))
        path = images
        fragment = "holds 5 images but its labels file"
    out = tmp_path / "never"
    assert_refused(invoke("study", "--dataset", path, "--out", out), out,
                   str(path), fragment)


# ------------------------------------------------------------------ acceptance


@pytest.mark.slow
@pytest.mark.parametrize("dataset, model, floor", [
    ("digits", "cnn", 0.85), ("digits", "lstm", 0.85), ("mnist1d", "mlp", 0.5)])
def test_acceptance_studies(tmp_path, dataset, model, floor, report_browser):
    out = tmp_path / f"{dataset}-{model}"
    result = invoke("study", "--dataset", dataset, "--model", model, "--inits",
                    "glorot_uniform,he_normal", "--seeds", "3", "--epochs", "10",
                    "--out", out)
    assert result.exit_code == 0, result.output
    table = summary(out)
    assert sorted(r["init"] for r in table) == ["glorot_uniform", "he_normal"]
    for row in table:
        assert (row["dataset"], row["model"], row["n_runs"]) == (dataset, model, "3")
        assert float(row["test_acc_mean"]) > floor, row
    assert rows(out, "SELECT COUNT(*) FROM epochs") == [(6 * 11,)]
    page = report_browser(out / "report.html")  # the report renders in a browser
    assert page["state"] == "complete" and len(page["images"]) >= 2
    assert all(image["naturalWidth"] > 0 for image in page["images"])
    assert page["tables"].get("summary-table", 0) > 2
    assert all(url.startswith("data:") for url in page["resources"])
