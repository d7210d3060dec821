"""The `initlab diagnose` and `initlab recommend` commands."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from initlab.cli import app

NORMAL_1 = '{"class_name": "RandomNormal", "config": {"stddev": 1.0}}'
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def diagnose_json(*args: str) -> dict:
    result = invoke("diagnose", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def refused(*args: str, code: int = 2) -> str:
    result = invoke(*args)
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr
    return " ".join(lines)


# --------------------------------------------- the verdicts of issue 5 from the CLI


@pytest.mark.parametrize(
    "init, verdict, first_bad",
    [
        ("he_normal", "healthy", None),
        ("glorot_normal", "vanishing", "fc29"),
        (NORMAL_1, "exploding", "fc5"),
        ("zeros", "symmetric", "fc1"),
    ],
    ids=["he_normal", "glorot_normal", "random_normal_1", "zeros"],
)
def test_json_verdicts_of_the_50_layer_relu_mlp(init, verdict, first_bad):
    data = diagnose_json(
        "--init", init
    )  # defaults: mlp, depth 50, width 256, relu, 512
    assert data["model"] == {
        "model": "mlp",
        "depth": 50,
        "width": 256,
        "activation": "relu",
        "seed": 0,
        "batch": 512,
        "init": data["model"]["init"],
    }
    assert data["verdict"] == verdict
    assert data["first_bad_layer"] == first_bad
    assert data["suggestion"] == "he_normal"
    assert len(data["layers"]) == 50
    assert {"name", "act_std", "pre_std", "dead_fraction", "symmetric"} <= set(
        data["layers"][0]
    )


def test_json_verdict_of_the_10_layer_tanh_mlp():
    data = diagnose_json("--depth", "10", "--activation", "tanh", "--init", NORMAL_1)
    assert data["verdict"] == "saturated"
    assert all(layer["saturated_fraction"] > 0.5 for layer in data["layers"])
    assert data["suggestion"] == "glorot_uniform"


def test_the_same_verdict_as_the_python_api():
    from initlab.diagnostics import build_case, diagnose

    report = diagnose(*build_case("mlp", depth=8, width=32, init="glorot_normal"))
    data = diagnose_json("--depth", "8", "--width", "32", "--init", "glorot_normal")
    assert data["layers"] == report.to_dict()["layers"]


def test_lsuv_as_init_fixes_the_glorot_network():
    assert diagnose_json("--init", "lsuv")["verdict"] == "healthy"


def test_table_output_and_plot(tmp_path):
    plot = tmp_path / "diag.png"
    result = invoke(
        "diagnose",
        "--depth",
        "6",
        "--width",
        "32",
        "--init",
        "glorot_normal",
        "--plot",
        str(plot),
    )
    assert result.exit_code == 0, result.stderr
    assert "fc6" in result.stdout and "verdict: healthy" in result.stdout
    assert "…" not in result.stdout  # the table is never cropped
    assert plot.read_bytes().startswith(PNG_MAGIC)


def test_cnn_and_lstm_models():
    cnn = diagnose_json(
        "--model",
        "cnn",
        "--depth",
        "3",
        "--width",
        "8",
        "--batch",
        "16",
        "--init",
        "he_normal",
    )
    assert [layer["kind"] for layer in cnn["layers"]] == ["Conv2d"] * 3
    lstm = diagnose_json(
        "--model", "lstm", "--depth", "2", "--width", "8", "--batch", "16"
    )
    assert lstm["model"]["activation"] is None
    assert [layer["name"] for layer in lstm["layers"]] == ["lstm1", "lstm2"]


# ---------------------------------------------------------------------- depth sweep


def test_depth_sweep_writes_one_png_with_a_line_per_initializer(tmp_path):
    plot = tmp_path / "sweep.png"
    result = invoke(
        "diagnose",
        "--depth-sweep",
        "--depth",
        "12",
        "--width",
        "64",
        "--inits",
        f"glorot_normal,he_normal,{NORMAL_1}",
        "--plot",
        str(plot),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [entry["init"] for entry in data["inits"]] == [
        "glorot_normal",
        "he_normal",
        "random_normal",
    ]
    assert [entry["verdict"] for entry in data["inits"]] == [
        "healthy",
        "healthy",
        "exploding",
    ]
    assert all(len(entry["activation_std"]) == 12 for entry in data["inits"])
    assert data["plot"] == str(plot)
    assert plot.read_bytes().startswith(PNG_MAGIC)


def test_depth_sweep_table(tmp_path):
    plot = tmp_path / "sweep.png"
    result = invoke(
        "diagnose",
        "--depth-sweep",
        "--depth",
        "4",
        "--width",
        "16",
        "--plot",
        str(plot),
    )
    assert result.exit_code == 0, result.stderr
    for name in ("glorot_normal", "he_normal", "lecun_normal", "orthogonal"):
        assert name in result.stdout
    assert plot.exists()


# ------------------------------------------------------------------------ factories


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(
        textwrap.dedent("""
        import torch
        from torch import nn

        def small():
            model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4))
            return model, torch.ones(8, 16)

        def broken():
            raise RuntimeError("no GPU here\\nsecond line")

        def wrong():
            return 42
    """)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_models"
    sys.modules.pop("my_models", None)


def test_factory_model(factory_module):
    data = diagnose_json("--factory", f"{factory_module}:small")
    assert data["model"] == {"factory": "my_models:small", "seed": 0}
    assert [layer["name"] for layer in data["layers"]] == ["0", "2"]
    initialized = diagnose_json(
        "--factory", f"{factory_module}:small", "--init", "zeros"
    )
    assert initialized["verdict"] == "symmetric"
    assert initialized["model"]["init"] == "zeros"


def test_factory_errors(factory_module):
    message = refused("diagnose", "--factory", f"{factory_module}:broken", code=1)
    assert "RuntimeError: no GPU here" in message and "second line" not in message
    assert "must return (model, batch)" in refused(
        "diagnose", "--factory", f"{factory_module}:wrong"
    )
    assert "has no attribute 'missing'" in refused(
        "diagnose", "--factory", f"{factory_module}:missing"
    )
    assert "Cannot import factory module 'nowhere_xyz'" in refused(
        "diagnose", "--factory", "nowhere_xyz:make"
    )
    assert "Malformed factory" in refused("diagnose", "--factory", "no_colon")
    assert "--model, --depth cannot be combined with --factory" in refused(
        "diagnose",
        "--factory",
        f"{factory_module}:small",
        "--model",
        "mlp",
        "--depth",
        "3",
    )


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "args, words",
    [
        (("--init", "no_such_init"), "no_such_init"),
        (("--init", "{not json"), "Invalid initializer config JSON"),
        (("--model", "rnn"), "Accepted: mlp, cnn, lstm"),
        (("--activation", "swish", "--depth", "2"), "Accepted: relu, tanh"),
        (("--model", "lstm", "--activation", "relu"), "does not apply to --model lstm"),
        (("--depth", "0"), "`depth` must be a positive integer"),
        (("--batch", "0", "--depth", "2"), "`batch_size` must be a positive integer"),
        (("--seed", "-1"), "Invalid --seed -1"),
        (("--inits", "he_normal"), "--inits needs --depth-sweep"),
        (("--depth-sweep", "--init", "he_normal"), "--init cannot be combined"),
        (("--depth-sweep", "--inits", "he_normal,,x"), "Malformed list"),
        (("--depth-sweep", "--inits", "he_normal,nope"), "nope"),
    ],
    ids=lambda value: value if isinstance(value, str) else "-".join(value)[:40],
)
def test_bad_input_is_one_sentence_and_exit_code_2(args, words):
    assert words in refused("diagnose", *args)


# ------------------------------------------------------------------------ recommend


def test_recommend_json_and_table():
    result = invoke(
        "recommend", "--depth", "3", "--width", "16", "--activation", "selu", "--json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == {
        "model": "mlp",
        "depth": 3,
        "width": 16,
        "activation": "selu",
    }
    assert [row["refined"] for row in data["layers"]] == ["lecun_normal"] * 3
    assert [row["general"] for row in data["layers"]] == ["glorot_uniform"] * 3
    table = invoke("recommend", "--model", "lstm", "--depth", "1", "--width", "8")
    assert table.exit_code == 0
    assert "orthogonal" in table.stdout and "lstm1.weight_hh_l0" in table.stdout
    assert "…" not in table.stdout


def test_recommend_factory_and_bad_input(factory_module):
    data = json.loads(
        invoke("recommend", "--factory", f"{factory_module}:small", "--json").stdout
    )
    assert [row["activation"] for row in data["layers"]] == ["tanh", "linear"]
    assert "Accepted: mlp, cnn, lstm" in refused("recommend", "--model", "vit")


# ------------------------------------------------------------------ import layering


def run_python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_import_initlab_never_imports_torch_and_aliases_resolve_in_any_order():
    run_python(
        "import sys, initlab; assert 'torch' not in sys.modules; "
        "import initlab.diagnostics, initlab.torch; "
        "assert callable(initlab.diagnose) and callable(initlab.recommend); "
        "assert initlab.diagnose is initlab.diagnostics.diagnose"
    )
    run_python(
        "import initlab.torch, initlab; "
        "assert initlab.diagnose is initlab.torch.diagnose; "
        "from initlab.diagnostics import diagnose; assert callable(initlab.diagnose)"
    )
