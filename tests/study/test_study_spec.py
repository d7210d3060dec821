"""StudySpec: validation, init entries, run expansion and ids."""

import json

import pytest

import initlab
from initlab.study.spec import InitEntry, RunSpec, StudySpec, split_entries


def test_default_spec_is_the_catalog_on_ten_seeds():
    spec = StudySpec()
    labels = [entry.label for entry in spec.inits]
    assert labels == [initlab.canonical_name(cls) for cls in initlab.CATALOG]
    assert len(labels) == 15
    assert list(spec.run_seeds) == list(range(10))
    assert len(spec.runs()) == 150
    assert (spec.dataset, spec.model, spec.split_seed) == ("digits", "mlp", 0)


def test_run_seeds_start_at_seed():
    spec = StudySpec(inits=("he_normal",), seeds=3, seed=41)
    assert [run.seed for run in spec.runs()] == [41, 42, 43]


def test_runs_are_seed_major():
    spec = StudySpec(inits=("zeros", "ones"), seeds=2)
    assert [(run.seed, run.init.label) for run in spec.runs()] == [
        (0, "zeros"), (0, "ones"), (1, "zeros"), (1, "ones")]


@pytest.mark.parametrize("entry, label", [
    ("glorot_uniform", "glorot_uniform"),
    ("xavier_uniform", "glorot_uniform"),
    ("GlorotUniform", "glorot_uniform"),
    ("kaiming_normal", "he_normal"),
    ({"class_name": "GlorotUniform"}, "glorot_uniform"),
    ('{"class_name": "RandomNormal", "config": {"stddev": 2.0}}',
     "random_normal(stddev=2.0)"),
    ({"class_name": "RandomNormal", "config": {"stddev": 0.05}}, "random_normal"),
    ("keras", "keras"),
    ("torch", "torch"),
], ids=str)
def test_entry_labels_are_canonical(entry, label):
    assert InitEntry.parse(entry).label == label


def test_policy_entries_keep_their_name_as_value():
    entry = InitEntry.parse("keras")
    assert entry.value == "keras" and entry.config == "keras"


def test_initializer_entries_carry_an_instance_and_keras_config():
    entry = InitEntry.parse("he_normal")
    assert isinstance(entry.value, initlab.HeNormal)
    assert entry.config == initlab.serialize(initlab.HeNormal())
    assert json.loads(entry.config_json) == entry.config


def test_run_id_depends_on_config_not_spelling():
    one = StudySpec(inits=("xavier_uniform",), seeds=1).runs()[0]
    two = StudySpec(inits=("glorot_uniform",), seeds=1).runs()[0]
    assert one.run_id == two.run_id
    assert len(one.run_id) == 16


@pytest.mark.parametrize("change", [
    {"seed": 1}, {"epochs": 3}, {"depth": 1}, {"width": 32}, {"activation": "tanh"},
    {"optimizer": "sgd"}, {"lr": 0.01}, {"batch_size": 16}, {"split_seed": 1},
    {"inits": ("he_uniform",)},
], ids=str)
def test_run_id_changes_with_every_setting(change):
    base = {"inits": ("glorot_uniform",), "seeds": 1}
    assert (StudySpec(**base).runs()[0].run_id
            != StudySpec(**{**base, **change}).runs()[0].run_id)


def test_run_id_is_a_pure_function_of_the_settings():
    # Pinned: a change here renames every run of every existing study.
    run = StudySpec(inits=("glorot_uniform",), seeds=1).runs()[0]
    again = RunSpec(**{**run.__dict__})
    assert run.run_id == again.run_id
    assert run.settings()["init_config"] == run.init.config_json


def test_spec_hash_names_the_default_out():
    spec = StudySpec(inits=("zeros",), seeds=2)
    assert spec.default_out() == f"runs/digits-mlp-{spec.spec_hash}"
    assert spec.spec_hash == StudySpec(inits=("zeros",), seeds=2).spec_hash
    assert spec.spec_hash != StudySpec(inits=("zeros",), seeds=3).spec_hash


def test_random_seed_is_drawn_and_flagged(monkeypatch):
    monkeypatch.setattr(initlab.seeds, "fresh_seed", lambda: 123456789)
    spec = StudySpec(inits=("zeros",), seeds=2, seed="random")
    assert spec.seed == 123456789 and spec.seed_drawn
    assert [run.seed for run in spec.runs()] == [123456789, 123456790]
    assert not StudySpec(inits=("zeros",), seed=5).seed_drawn


@pytest.mark.parametrize("kwargs, fragment", [
    ({"dataset": "mnist"}, "'mnist'. Accepted: digits"),
    ({"model": "resnet"}, "'resnet'. Accepted: mlp, cnn, lstm"),
    ({"model": "lstm", "depth": 0}, "--depth 0 with --model lstm"),
    ({"vary": "weights"}, "'weights'. Accepted: init, order, both"),
    ({"seeds": 0}, "--seeds 0"),
    ({"seeds": -2}, "--seeds -2"),
    ({"seed": -1}, "--seed -1"),
    ({"seed": 2**63 - 1, "seeds": 2}, "at most"),
    ({"epochs": -1}, "--epochs -1"),
    ({"depth": -1}, "--depth -1"),
    ({"width": 0}, "--width 0"),
    ({"batch_size": 0}, "--batch-size 0"),
    ({"activation": "swish"}, "'swish'. Accepted: relu, tanh, sigmoid, selu, gelu"),
    ({"optimizer": "rmsprop"}, "'rmsprop'. Accepted: sgd, adam"),
    ({"lr": 0.0}, "--lr 0.0"),
    ({"lr": float("nan")}, "--lr nan"),
    ({"momentum": 1.0, "optimizer": "sgd"}, "--momentum 1.0"),
    ({"momentum": 0.9}, "sgd only"),
    ({"inits": ()}, "--inits is empty"),
    ({"inits": ("glorot_uniform", "xavier_uniform")}, "twice"),
    ({"inits": ("glorot_unifrom",)}, "'glorot_unifrom'"),
], ids=str)
def test_bad_values_are_refused_with_the_value_named(kwargs, fragment):
    with pytest.raises(ValueError, match=None) as info:
        StudySpec(**kwargs)
    assert fragment in str(info.value)


def test_unknown_name_mentions_the_policies():
    with pytest.raises(ValueError, match="'keras', 'torch', 'lsuv' are accepted"):
        StudySpec(inits=("lsuvv",))


@pytest.mark.parametrize("kwargs", [{"seeds": 2.5}, {"seed": "7"}, {"lr": "big"}],
                         ids=str)
def test_wrong_types_are_type_errors(kwargs):
    with pytest.raises(TypeError):
        StudySpec(**kwargs)


def test_split_entries_respects_json_commas():
    text = 'glorot_uniform, {"class_name": "RandomNormal", ' \
           '"config": {"stddev": 2, "seed": 1}},he_normal'
    assert split_entries(text) == [
        "glorot_uniform",
        '{"class_name": "RandomNormal", "config": {"stddev": 2, "seed": 1}}',
        "he_normal",
    ]


@pytest.mark.parametrize("text", ["a,,b", "{\"class_name\": 1", "a,"])
def test_split_entries_refuses_malformed_text(text):
    with pytest.raises(ValueError, match="Malformed --inits"):
        split_entries(text)
