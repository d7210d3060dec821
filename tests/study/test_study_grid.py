"""Spec files and grids: keys, types, values, expansion, round trips."""

import json

import pytest

from initlab.study.grid import (
    KEYS,
    SpecError,
    build_grid,
    check_value,
    parse_flag,
    read_spec_file,
    spec_values,
    to_toml,
)
from initlab.study.spec import StudySpec


def _write(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_flags_split_on_commas_for_grid_keys_only():
    assert parse_flag("lr", "0.001, 0.01") == (0.001, 0.01)
    assert parse_flag("depth", "1,2,3") == (1, 2, 3)
    assert parse_flag("model", "mlp,cnn") == ("mlp", "cnn")
    assert parse_flag("seed", "7") == 7 and parse_flag("seed", "random") == "random"
    assert parse_flag("inits", 'he_normal,{"class_name": "Zeros"}') == (
        "he_normal", {"class_name": "Zeros"})
    assert parse_flag("label_column", "a,b") == "a,b"  # not a grid key


@pytest.mark.parametrize("key, text, fragment", [
    ("lr", "fast", "Invalid --lr 'fast': it must be a real number"),
    ("depth", "two", "Invalid --depth 'two': it must be an integer >= 0"),
    ("batch_size", "16,0", "Invalid --batch-size 0: it must be an integer >= 1"),
    ("model", "mlp,rnn", "Unknown --model 'rnn'. Accepted: mlp, cnn, lstm"),
    ("vary", "weights", "Unknown --vary 'weights'. Accepted: init, order, both"),
    ("lr", "0.1,0.1", "0.1 is listed twice"),
    ("seed", "-1", "Invalid --seed '-1'"),
    ("momentum", "1.5", "Invalid --momentum 1.5: it must be in [0, 1)"),
])
def test_bad_flags_name_the_flag_and_what_is_accepted(key, text, fragment):
    with pytest.raises(SpecError, match=None) as info:
        parse_flag(key, text)
    assert fragment in str(info.value)


def test_a_spec_file_is_read_and_checked(tmp_path):
    path = _write(tmp_path, """
dataset = "digits"
model = ["mlp", "cnn"]
inits = ["he_normal", {class_name = "RandomNormal", config = {stddev = 0.1}}]
seeds = 2
seed = 5
lr = [1e-3, 3e-3]
vary = "order"
out = "runs/x"
""")
    values = read_spec_file(path)
    assert values == {
        "dataset": ("digits",), "model": ("mlp", "cnn"),
        "inits": ("he_normal", {"class_name": "RandomNormal",
                                "config": {"stddev": 0.1}}),
        "seeds": 2, "seed": 5, "lr": (0.001, 0.003), "vary": ("order",),
        "out": "runs/x"}


def test_json_spec_files_are_read_too(tmp_path):
    path = _write(tmp_path, json.dumps({"model": "lstm", "epochs": 3}), "s.json")
    assert read_spec_file(path) == {"model": ("lstm",), "epochs": (3,)}


@pytest.mark.parametrize("text, fragment", [
    ('lrr = 0.1', "Unknown key 'lrr' in {path}. Accepted keys: dataset, model"),
    ('lr = "fast"', "Invalid lr = \"fast\" in {path}: it must be a real number "
                    "(a positive number); got a string"),
    ('lr = 0', "Invalid lr = 0.0 in {path}: it must be a positive number"),
    ('depth = 1.5', "Invalid depth = 1.5 in {path}: it must be an integer >= 0; got "
                    "a number"),
    ('depth = true', "it must be an integer >= 0; got a boolean"),
    ('seeds = [1, 2]', "key 'seeds' of {path} takes one value, not a list"),
    ('activation = "swish"', "Unknown activation = \"swish\" in {path}. Accepted: "
                             "relu, tanh, sigmoid, selu, gelu, linear"),
    ('model = []', "give at least one value"),
    ('inits = 3', "it must be an array of initializer names or configs"),
    ('inits = [3]', "Invalid entry 3 in key 'inits' of {path}"),
    ('seed = "soon"', "Invalid seed = \"soon\" in {path}: it must be an integer >= 0 "
                      "or 'random'"),
    ('quiet = "yes"', "Invalid quiet = \"yes\" in {path}: it must be true or false"),
    ('[model]\nname = "mlp"', "Invalid model = "),
    ('lr = ', "is not valid TOML"),
])
def test_a_bad_spec_file_names_the_key_and_what_is_accepted(tmp_path, text,
                                                            fragment):
    path = _write(tmp_path, text + "\n")
    with pytest.raises(SpecError) as info:
        read_spec_file(path)
    message = str(info.value)
    assert fragment.format(path=path) in message
    assert "\n" not in message


def test_missing_and_unreadable_spec_files(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        read_spec_file(tmp_path / "none.toml")
    with pytest.raises(SpecError, match="is a folder"):
        read_spec_file(tmp_path)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SpecError, match="Cannot read spec file"):
        read_spec_file(tmp_path / "bin.toml")


def test_every_key_is_documented_in_the_error_for_unknown_keys():
    with pytest.raises(SpecError) as info:
        check_value("nope", 1)
    assert all(key in str(info.value) for key in KEYS)


def test_the_grid_is_every_combination_seed_major():
    grid = build_grid({"model": ("mlp", "cnn"), "lr": (0.001, 0.01),
                       "inits": ("zeros", "ones"), "seeds": 2})
    assert len(grid.specs) == 4 and grid.dimensions == {
        "model": ("mlp", "cnn"), "lr": (0.001, 0.01)}
    assert [(s.model, s.lr) for s in grid.specs] == [
        ("mlp", 0.001), ("mlp", 0.01), ("cnn", 0.001), ("cnn", 0.01)]
    runs = grid.runs()
    assert len(runs) == 16 and len({run.run_id for run in runs}) == 16
    assert [run.seed for run in runs] == [0] * 8 + [1] * 8
    # Each model takes its own defaults where the grid leaves a key unset.
    assert {s.model: s.width for s in grid.specs} == {"mlp": 64, "cnn": 32}
    assert grid.default_out().startswith("runs/digits-multi-")


def test_a_single_cell_grid_is_the_plain_spec():
    grid = build_grid({"inits": ("he_normal",), "seeds": 3})
    spec = StudySpec(inits=("he_normal",), seeds=3)
    assert grid.default_out() == spec.default_out()
    assert [r.run_id for r in grid.runs()] == [r.run_id for r in spec.runs()]


def test_adam_cells_of_an_optimizer_grid_take_momentum_zero():
    grid = build_grid({"optimizer": ("sgd", "adam"), "momentum": (0.0, 0.9),
                       "inits": ("zeros",), "seeds": 1})
    assert sorted((s.optimizer, s.momentum) for s in grid.specs) == [
        ("adam", 0.0), ("sgd", 0.0), ("sgd", 0.9)]
    with pytest.raises(SpecError, match="--momentum 0.9 with optimizer adam: "
                                        "momentum applies to sgd only"):
        build_grid({"momentum": (0.9,), "inits": ("zeros",)})


def test_options_for_files_need_such_a_file():
    with pytest.raises(SpecError, match="--label-column applies to CSV datasets"):
        build_grid({"label_column": "y", "inits": ("zeros",)})
    with pytest.raises(SpecError, match="--labels applies to IDX datasets"):
        build_grid({"labels": "l.idx", "inits": ("zeros",)})


def test_a_random_seed_is_drawn_once_for_every_cell(monkeypatch):
    from initlab import seeds

    draws = iter([111, 222])
    monkeypatch.setattr(seeds, "fresh_seed", lambda: next(draws))
    grid = build_grid({"seed": "random", "model": ("mlp", "cnn"),
                       "inits": ("zeros",)})
    assert {spec.seed for spec in grid.specs} == {111}
    assert all(spec.seed_drawn for spec in grid.specs)


@pytest.mark.parametrize("kwargs", [
    {},
    {"model": "lstm", "vary": "order", "seed": 9, "fixed_seed": 4,
     "inits": ({"class_name": "RandomNormal", "config": {"stddev": 0.3}},)},
    {"optimizer": "sgd", "momentum": 0.9, "inits": ("keras",), "vary": "init"},
])
def test_a_spec_written_as_toml_reads_back_to_the_same_runs(tmp_path, kwargs):
    spec = StudySpec(**{"inits": ("he_normal",), "seeds": 2, **kwargs})
    path = _write(tmp_path, to_toml(spec_values(spec), ["a comment"]))
    again = build_grid(read_spec_file(path))
    assert [r.run_id for r in again.runs()] == [r.run_id for r in spec.runs()]
