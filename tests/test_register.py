"""User-defined initializers: ``@initlab.register`` makes one usable by name everywhere.

By name in ``initlab.get``, in configs read by ``initlab.deserialize`` (also through
``custom_objects`` without registering), in ``initlab.torch.initialize`` policies and
rules, in the study's ``--inits`` entries and the configs a study stores, and in
``initlab sample NAME``.

The ``initlab`` command has no plugin mechanism: a fresh ``initlab`` process knows
only the built-in names (a registered name is refused with exit code 2, tested
below). A user's initializer reaches the CLI through a launcher that imports the
module registering it and then calls ``initlab.cli.main()``, which is tested too.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import initlab
from initlab.initializers import _registry
from initlab.study.spec import InitEntry
from initlab.torch import initialize


class FanScaled(initlab.Initializer):
    """Every value is ``factor / sqrt(fan_in)``: shows which fans a caller passed."""

    formula = "w = factor / sqrt(fan_in)"

    def __init__(self, factor: float = 1.0):
        self.factor = float(factor)

    def _generate(self, shape, dtype, source, layout, fans=None):
        fan_in, _ = fans or initlab.compute_fans(shape, layout)
        return np.full(shape, self.factor / math.sqrt(max(1, fan_in)), dtype=dtype)

    def get_config(self):
        return {"factor": self.factor}


class SignFlip(initlab.RandomInitializer):
    """``+-scale`` with equal probability, from the call's seeded stream."""

    formula = "w = +-scale"

    def __init__(self, scale: float = 0.1, seed: int | None = None):
        super().__init__(seed)
        self.scale = float(scale)

    def _generate(self, shape, dtype, source, layout, fans=None):
        flips = source.chunk(0).random(math.prod(shape)) < 0.5
        values = np.where(flips, -self.scale, self.scale).astype(dtype)
        return values.reshape(shape)

    def get_config(self):
        return {"seed": self.seed, "scale": self.scale}


class Unregistered(initlab.Initializer):
    """Loadable only through ``custom_objects``."""

    def __init__(self, value: float = 0.5):
        self.value = float(value)

    def _generate(self, shape, dtype, source, layout, fans=None):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the name tables, so nothing registered here leaks into
    other tests; FanScaled and SignFlip registered in it."""
    monkeypatch.setattr(_registry, "_NAMES", dict(_registry._NAMES))
    monkeypatch.setattr(_registry, "_REGISTERED", dict(_registry._REGISTERED))
    initlab.register(FanScaled)
    initlab.register(name="sign_flip_test")(SignFlip)


def _np(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(torch.float64).numpy()


# ------------------------------------------------------------ get and deserialize


def test_a_registered_class_is_found_by_every_name(registry):
    for name in ("FanScaled", "fan_scaled"):
        assert initlab.get(name) == FanScaled()
    for name in ("SignFlip", "sign_flip", "sign_flip_test"):
        assert type(initlab.get(name)) is SignFlip
    assert initlab.canonical_name(FanScaled) == "fan_scaled"
    assert initlab.canonical_name(SignFlip()) == "sign_flip_test"
    assert initlab.get({"class_name": "fan_scaled", "config": {"factor": 2}}) == \
        FanScaled(2.0)


def test_the_decorator_forms(registry):
    @initlab.register
    class Plain(FanScaled):
        pass

    @initlab.register(name="named_one")
    class Named(FanScaled):
        pass

    assert type(initlab.get("plain")) is Plain
    assert type(initlab.get("named_one")) is Named
    assert type(initlab.get("Named")) is Named


def test_registration_does_not_outlive_the_fixture():
    with pytest.raises(ValueError, match="Unknown initializer: 'fan_scaled'"):
        initlab.get("fan_scaled")


def test_serialize_keeps_module_and_registered_name_and_loads_back(registry):
    init = SignFlip(scale=0.25, seed=3)
    form = initlab.serialize(init)
    assert form == {"module": __name__, "class_name": "SignFlip",
                    "config": {"seed": 3, "scale": 0.25},
                    "registered_name": "sign_flip_test"}
    loaded = initlab.deserialize(json.loads(json.dumps(form)))
    assert loaded == init
    np.testing.assert_array_equal(loaded((5, 7)), init((5, 7)))


def test_custom_objects_load_a_class_that_is_not_registered():
    form = {"class_name": "Unregistered", "config": {"value": 2.0}}
    with pytest.raises(ValueError, match="Unknown initializer: 'Unregistered'"):
        initlab.deserialize(form)
    objects = {"Unregistered": Unregistered}
    assert initlab.deserialize(form, custom_objects=objects) == Unregistered(2.0)
    assert initlab.get("Unregistered", custom_objects=objects) == Unregistered()
    assert initlab.get(form, custom_objects=objects) == Unregistered(2.0)
    # A typo is answered with the closest names, custom ones included.
    with pytest.raises(ValueError, match="Did you mean 'Unregistered'"):
        initlab.get("Unregistred", custom_objects=objects)


# ------------------------------------------------------------ policies and rules


def test_a_registered_name_as_the_policy_uses_the_adapters_fans(registry):
    model = nn.Sequential(nn.Linear(8, 4), nn.Conv2d(4, 4, 3, groups=4))
    report = initialize(model, policy="fan_scaled", seed=0)
    assert np.all(_np(model[0].weight) == np.float32(1 / math.sqrt(8)))
    assert np.all(_np(model[0].bias) == 0.0)  # biases as under "keras"
    # Depthwise: Keras's fan_in in * prod(k) = 36 under the default fans...
    assert np.all(_np(model[1].weight) == np.float32(1 / 6))
    names = {row.name: row.initializer for row in report.rows}
    assert names["0.weight"] == "fan_scaled"
    # ...and the 9 real connections with fans="layer".
    initialize(model, policy="fan_scaled", seed=0, fans="layer")
    assert np.all(_np(model[1].weight) == np.float32(1 / 3))


def test_registered_names_and_configs_in_rules(registry):
    model = nn.Sequential(nn.Linear(8, 6), nn.LSTM(6, 4))
    rules = {
        "Linear.weight": "sign_flip_test",
        "1.weight_hh_l0": {"class_name": "FanScaled", "config": {"factor": 2.0}},
    }
    report = initialize(model, policy=rules, seed=5)
    # Drawn in the Keras layout from the stream of (model seed, parameter name).
    expected = SignFlip().sample((8, 6), name="0.weight", seed=5).T
    np.testing.assert_array_equal(_np(model[0].weight), expected)
    assert set(np.unique(_np(model[0].weight))) == {np.float32(-0.1), np.float32(0.1)}
    # The recurrent kernel (H, 4H) = (4, 16): fan_in 4.
    assert np.all(_np(model[1].weight_hh_l0) == 1.0)
    names = {row.name: row.initializer for row in report.rows}
    assert names["0.weight"] == "sign_flip_test (rule 'Linear.weight')"
    assert names["1.weight_hh_l0"] == "fan_scaled (rule '1.weight_hh_l0')"
    # The rest keeps the keras policy: glorot kernel, unit forget bias.
    assert np.abs(_np(model[1].weight_ih_l0)).max() <= math.sqrt(6 / (6 + 16))
    bias = _np(model[1].bias_ih_l0) + _np(model[1].bias_hh_l0)
    assert np.all(bias[4:8] == 1.0)


def test_an_unregistered_name_in_a_rule_is_refused_with_the_rule():
    with pytest.raises(ValueError, match=r"Invalid policy rule 'Linear\.weight': "
                                         r"Unknown initializer: 'fan_scaled'"):
        initialize(nn.Linear(2, 2), policy={"Linear.weight": "fan_scaled"})


# ----------------------------------------------------------------------- studies


def test_a_registered_name_is_a_study_inits_entry_and_its_stored_config_loads(
        registry):
    entry = InitEntry.parse("sign_flip_test")
    assert entry.label == "sign_flip_test"
    assert entry.config == initlab.serialize(SignFlip())
    stored = json.loads(entry.config_json)  # what results.sqlite keeps
    assert initlab.deserialize(stored) == SignFlip()
    entry = InitEntry.parse('{"class_name": "FanScaled", "config": {"factor": 3}}')
    assert entry.label == "fan_scaled(factor=3.0)"
    assert initlab.deserialize(json.loads(entry.config_json)) == FanScaled(3.0)


# --------------------------------------------------------------------------- CLI

PLUGIN = textwrap.dedent('''
    """A user's initializer, registered when this module is imported."""
    import math

    import numpy as np

    import initlab


    @initlab.register(name="lab_plugin_init")
    class LabPluginInit(initlab.Initializer):
        formula = "w = factor / sqrt(fan_in)"

        def __init__(self, factor=1.0):
            self.factor = float(factor)

        def _generate(self, shape, dtype, source, layout, fans=None):
            fan_in, _ = fans or initlab.compute_fans(shape, layout)
            return np.full(shape, self.factor / math.sqrt(max(1, fan_in)), dtype=dtype)

        def statistics(self, shape, layout="keras", fans=None):
            stats = super().statistics(shape, layout, fans)
            value = self.factor / math.sqrt(max(1, stats["fan_in"]))
            stats.update(expected_mean=value, expected_std=0.0, bounds=(value, value))
            return stats

        def get_config(self):
            return {"factor": self.factor}
''')

LAUNCHER = "import lab_plugin; from initlab.cli import main; main()"


def _run(tmp_path, *args):
    (tmp_path / "lab_plugin.py").write_text(PLUGIN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def test_the_plain_cli_does_not_load_user_modules(tmp_path):
    done = _run(tmp_path, "-m", "initlab.cli", "sample", "lab_plugin_init",
                "--shape", "8,4")
    assert done.returncode == 2
    assert "Unknown initializer: 'lab_plugin_init'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_cli_samples_a_registered_name_when_a_launcher_imports_it(tmp_path):
    done = _run(tmp_path, "-c", LAUNCHER, "sample", "lab_plugin_init",
                "--shape", "8,4", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["name"] == "lab_plugin_init"
    assert out["class_name"] == "LabPluginInit"
    assert (out["fan_in"], out["fan_out"]) == (8, 4)
    assert out["mean"] == pytest.approx(1 / math.sqrt(8), rel=1e-6)
    assert out["min"] == out["max"] and out["expected_std"] == 0.0


def test_the_cli_samples_a_registered_config_when_a_launcher_imports_it(tmp_path):
    config = json.dumps({"class_name": "LabPluginInit", "config": {"factor": 2.0}})
    done = _run(tmp_path, "-c", LAUNCHER, "sample", config, "--shape", "3,3,4,16",
                "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["config"] == {"factor": 2.0}
    assert out["fan_in"] == 36
    assert out["mean"] == pytest.approx(2 / 6, rel=1e-6)
