"""The `initlab list` and `initlab sample` commands, and `initlab --version`."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import initlab
from initlab.cli import app

TRUNC_STD = 0.8796256610342398
KEYS = {"name", "shape", "layout", "dtype", "fan_in", "fan_out", "expected_std", "mean",
        "std", "min", "max"}
CATALOG = {  # snake name -> class name, the 15 Keras entries
    "zeros": "Zeros", "ones": "Ones", "constant": "Constant",
    "random_normal": "RandomNormal", "random_uniform": "RandomUniform",
    "truncated_normal": "TruncatedNormal", "variance_scaling": "VarianceScaling",
    "orthogonal": "Orthogonal", "identity": "Identity", "lecun_uniform": "LecunUniform",
    "lecun_normal": "LecunNormal", "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal", "he_uniform": "HeUniform", "he_normal": "HeNormal",
}

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def sample_json(*args: str) -> dict:
    result = invoke("sample", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def initlab_script() -> str:
    beside = Path(sys.executable).parent / "initlab"
    if beside.exists():
        return str(beside)
    found = shutil.which("initlab")
    if found is None:
        pytest.skip("the initlab script is not installed")
    return found


# ----------------------------------------------------------------------- sample


def test_sample_he_normal_512_256():
    out = sample_json("he_normal", "--shape", "512,256", "--seed", "0")
    assert KEYS <= set(out)
    assert out["name"] == "he_normal"
    assert out["shape"] == [512, 256]
    assert out["layout"] == "keras" and out["dtype"] == "float32"
    assert out["fan_in"] == 512 and out["fan_out"] == 256
    assert out["expected_std"] == pytest.approx(0.0625, rel=1e-12)
    assert abs(out["std"] - 0.0625) <= 0.02 * 0.0625
    bound = np.float32(2 * 0.0625 / TRUNC_STD)
    assert np.float32(out["max"]) <= bound and np.float32(-out["min"]) <= bound
    # The same draw through the library.
    values = initlab.HeNormal(seed=0)((512, 256), "float32")
    wide = values.astype(np.float64)
    assert np.abs(values).max() <= bound
    assert out["min"] == float(wide.min()) and out["max"] == float(wide.max())
    assert out["mean"] == pytest.approx(wide.mean(), rel=1e-12, abs=1e-15)
    assert out["std"] == pytest.approx(wide.std(), rel=1e-12)


def test_sample_glorot_uniform_torch_layout():
    out = sample_json("glorot_uniform", "--shape", "256,512", "--layout", "torch")
    assert out["layout"] == "torch"
    assert out["fan_in"] == 512 and out["fan_out"] == 256
    limit = math.sqrt(6 / 768)
    assert out["expected_std"] == pytest.approx(limit / math.sqrt(3), rel=1e-12)
    assert np.float32(out["max"]) <= np.float32(limit)
    assert np.float32(out["min"]) >= np.float32(-limit)
    assert abs(out["std"] - limit / math.sqrt(3)) <= 0.02 * limit / math.sqrt(3)


@pytest.mark.parametrize("alias", ["xavier_uniform", "GlorotUniform", "glorot_uniform"])
def test_sample_accepts_aliases_and_prints_the_canonical_name(alias):
    assert sample_json(alias, "--shape", "4,4")["name"] == "glorot_uniform"


def test_sample_seed_reproduces_and_differs():
    a = sample_json("random_normal", "--shape", "64,64", "--seed", "3")
    b = sample_json("random_normal", "--shape", "64,64", "--seed", "3")
    c = sample_json("random_normal", "--shape", "64,64", "--seed", "4")
    assert a == b
    assert (a["min"], a["max"]) != (c["min"], c["max"])


def test_sample_config_json_uses_its_own_seed_unless_seed_is_given():
    config = json.dumps({"class_name": "RandomUniform",
                         "config": {"minval": -1.0, "maxval": 1.0, "seed": 5}})
    out = sample_json(config, "--shape", "100")
    values = initlab.RandomUniform(-1.0, 1.0, seed=5)((100,)).astype(np.float64)
    assert out["min"] == float(values.min()) and out["max"] == float(values.max())
    overridden = sample_json(config, "--shape", "100", "--seed", "6")
    values = initlab.RandomUniform(-1.0, 1.0, seed=6)((100,)).astype(np.float64)
    assert overridden["max"] == float(values.max())


def test_sample_config_json_short_and_full_forms():
    form = initlab.serialize(initlab.VarianceScaling(2.0, "fan_out", "uniform"))
    out = sample_json(json.dumps(form), "--shape", "30,40", "--seed", "1")
    assert out["fan_out"] == 40
    assert out["expected_std"] == pytest.approx(math.sqrt(2.0 / 40), rel=1e-12)
    assert out["max"] <= math.sqrt(3 * 2.0 / 40)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_sample_dtypes_and_bounds_in_the_output_dtype(dtype):
    out = sample_json("he_uniform", "--shape", "256,128", "--dtype", dtype)
    assert out["dtype"] == dtype
    limit = math.sqrt(6 / 256)
    resolved = initlab.initializers.resolve_dtype(dtype)

    def cast(x):
        return np.asarray(x).astype(resolved)

    assert cast(out["max"]) <= cast(limit) and cast(out["min"]) >= cast(-limit)


def test_sample_zero_size_and_scalar_shapes():
    out = sample_json("glorot_uniform", "--shape", "0,4")
    assert out["shape"] == [0, 4]
    assert out["mean"] is None and out["std"] is None
    scalar = sample_json("he_uniform", "--shape", "()")
    assert scalar["shape"] == [] and scalar["fan_in"] == 1
    assert abs(scalar["max"]) <= math.sqrt(6.0)


@pytest.mark.parametrize("name", sorted(CATALOG))
@pytest.mark.parametrize("shape", ["6,4", "0,4"])
def test_sample_every_catalog_entry(name, shape):
    out = sample_json(name, "--shape", shape, "--seed", "2")
    dims = tuple(int(d) for d in shape.split(","))
    assert KEYS <= set(out) and out["shape"] == list(dims)
    assert (out["fan_in"], out["fan_out"]) == dims  # keras (in, out)
    if dims[0]:
        init = initlab.get(name)
        if init.random:
            init = type(init).from_config({**init.get_config(), "seed": 2})
        wide = init(dims).astype(np.float64)
        assert (out["min"], out["max"]) == (float(wide.min()), float(wide.max()))
    else:
        assert out["mean"] is None and out["min"] is None


def test_sample_table_output():
    result = invoke("sample", "he_normal", "--shape", "8,8")
    assert result.exit_code == 0
    for key in ("fan_in", "expected_std", "std", "max"):
        assert key in result.stdout


@pytest.mark.parametrize("shape", ["512,256", "0,4"])
def test_sample_plot_writes_a_png(tmp_path, shape):
    pytest.importorskip("matplotlib")
    path = tmp_path / "sub" / "hist.png"
    result = invoke("sample", "he_normal", "--shape", shape, "--plot", str(path))
    assert result.exit_code == 0, result.stderr
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR" and data[-8:-4] == b"IEND"
    from PIL import Image

    with Image.open(path) as image:
        image.verify()


def test_sample_plot_to_an_unwritable_place_fails_without_traceback(tmp_path):
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke("sample", "he_normal", "--shape", "4,4", "--plot",
                    str(blocker / "hist.png"))
    assert result.exit_code == 1
    assert str(blocker / "hist.png") in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("args", "named"), [
    (["he_nromal", "--shape", "4,4"], "he_nromal"),
    (["he_normal", "--shape", "3,x"], "3,x"),
    (["he_normal", "--shape", "-1,2"], "-1,2"),
    (["he_normal", "--shape", "2,,3"], "2,,3"),
    (["he_normal", "--shape", "4.5"], "4.5"),
    (["he_normal", "--shape", "²"], "²"),
    (["he_normal", "--shape", "4,4", "--layout", "jax"], "jax"),
    (["he_normal", "--shape", "4,4", "--dtype", "int32"], "int32"),
    (["he_normal", "--shape", "4,4", "--dtype", "float17"], "float17"),
    (["he_normal", "--shape", "4,4", "--seed", "-1"], "-1"),
    (['{"class_name": "HeNormal", ', "--shape", "4"], '{"class_name": "HeNormal",'),
    (['{"class_name": "Nope"}', "--shape", "4"], "Nope"),
    (['{"class_name": "HeNormal", "config": {"scale": 2}}', "--shape", "4"], "scale"),
    (["orthogonal", "--shape", "5"], "(5,)"),
    (["identity", "--shape", "2,2,2"], "(2, 2, 2)"),
    (["he_normal", "--shape", "10000000,10000000"], "(10000000, 10000000)"),
    (["[/bold]x", "--shape", "4"], "[/bold]x"),
    (["[red]y", "--shape", "4"], "[red]y"),
])
def test_bad_input_exits_2_naming_the_value(args, named):
    result = runner.invoke(app, ["sample", *args])
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert named in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def test_missing_shape_is_a_usage_error():
    result = runner.invoke(app, ["sample", "he_normal"])
    assert result.exit_code == 2
    assert "--shape" in result.stderr


# ----------------------------------------------------------------------- list


def test_list_json_has_all_15_keras_entries():
    result = invoke("list", "--json")
    assert result.exit_code == 0
    entries = json.loads(result.stdout)
    by_name = {e["name"]: e for e in entries}
    keras_entries = {name: e for name, e in by_name.items() if e.get("keras", True)}
    assert set(keras_entries) == set(CATALOG)
    for name, entry in by_name.items():
        assert {"name", "class_name", "aliases", "formula"} <= set(entry)
        assert isinstance(entry["aliases"], list)
        assert isinstance(entry["formula"], str) and entry["formula"]
        assert type(initlab.get(name)).__name__ == entry["class_name"]
        for alias in entry["aliases"]:
            assert type(initlab.get(alias)).__name__ == entry["class_name"]
    for name, class_name in CATALOG.items():
        assert by_name[name]["class_name"] == class_name
    assert "xavier_uniform" in by_name["glorot_uniform"]["aliases"]
    assert "kaiming_normal" in by_name["he_normal"]["aliases"]
    assert "OrthogonalInitializer" in by_name["orthogonal"]["aliases"]


def test_list_table():
    result = invoke("list")
    assert result.exit_code == 0
    for name in CATALOG:
        assert name in result.stdout


# ----------------------------------------------------------------------- version


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"initlab {initlab.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", initlab.__version__)


# ----------------------------------------------------------------------- real script


def test_the_installed_script_samples_and_refuses():
    script = initlab_script()
    done = subprocess.run([script, "sample", "he_normal", "--shape", "512,256",
                           "--seed", "0", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["fan_in"] == 512 and out["expected_std"] == pytest.approx(0.0625)
    assert out == sample_json("he_normal", "--shape", "512,256", "--seed", "0")
    bad = subprocess.run([script, "sample", "he_normal", "--shape", "3,x"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "3,x" in bad.stderr and "Traceback" not in bad.stderr
