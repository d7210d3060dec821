"""Every bad input has an answer: one table across the Python API and the CLI.

Each row is an input (a Python expression, run with ``initlab``, ``np``, ``nn`` and
``torch`` in scope, or an ``initlab ...`` command line), the error it must raise
(an exception type, or exit code 2 for the CLI) and a regular expression its
message must contain. Messages name the argument, show the value received and say
what is accepted. CLI errors go to stderr, with nothing on stdout and no traceback.

docs/errors.md lists the same table with the messages as they read; it is generated
by running this file (``python tests/test_bad_inputs.py > docs/errors.md``) and
``test_docs_list_the_same_table`` keeps the two in step.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import initlab
import initlab.torch
from initlab.cli import app

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
EXIT_2 = "exit 2"


@dataclass(frozen=True)
class Bad:
    what: str  # what is wrong, in words
    input: str  # a Python expression, or a command line starting with "initlab "
    error: str  # "ValueError", "TypeError" or "exit 2"
    message: str  # a regular expression the message must contain

    @property
    def cli(self) -> bool:
        return self.input.startswith("initlab ")


L = "initlab.torch.initialize(nn.Linear(4, 4), "  # the prefix of initialize rows

TABLE: list[Bad] = [
    # ------------------------------------------------------------ names and configs
    Bad("unknown name (closest names suggested)", 'initlab.get("glorot_unifrom")',
        "ValueError", r"Unknown initializer: 'glorot_unifrom'\. Did you mean "
        r"'glorot_uniform'.*Known names: zeros, ones, constant"),
    Bad("unknown alias (closest names suggested)", 'initlab.get("kaiming_nromal")',
        "ValueError", r"Unknown initializer: 'kaiming_nromal'\. Did you mean "
        r"'kaiming_normal'.*Known names:"),
    Bad("identifier of the wrong type", "initlab.get(0.5)", "TypeError",
        r"Could not interpret initializer identifier: 0\.5\. Accepted: a name, a "
        r"config dict, an Initializer class or instance"),
    Bad("config with an unknown class_name",
        'initlab.deserialize({"class_name": "HeNormel", "config": {}})', "ValueError",
        r"Unknown initializer: 'HeNormel'\. Did you mean 'HeNormal'.*Known names:"),
    Bad("config with an unknown key",
        'initlab.deserialize({"class_name": "RandomNormal", "config": {"std": 0.1}})',
        "ValueError",
        r"Unknown keys for RandomNormal: \['std'\]\. Accepted: mean, seed, stddev"),
    Bad("config with an unknown top-level key",
        'initlab.deserialize({"class_name": "Zeros", "config": {}, "cfg": 1})',
        "ValueError", r"Unknown keys in initializer config: \['cfg'\]\. Accepted: "
        r"module, class_name, config, registered_name"),
    Bad("config without class_name", 'initlab.deserialize({"config": {}})',
        "ValueError", r"needs a 'class_name' key\. Received keys: \['config'\]"),
    Bad("config that is not a dict", 'initlab.deserialize(["Zeros"])', "TypeError",
        r"must be a dict with 'class_name' and 'config'\. Received: \['Zeros'\]"),
    Bad("serialize of a non-initializer", 'initlab.serialize("zeros")', "TypeError",
        r"serialize takes an initlab Initializer\. Received: 'zeros'"),
    Bad("register of a non-initializer", "initlab.register(dict)", "TypeError",
        r"initlab\.register takes a subclass of initlab\.Initializer\. "
        r"Received: <class 'dict'>"),
    # -------------------------------------------------------- constructor arguments
    Bad("typo in mode", 'initlab.VarianceScaling(mode="fan_inn")', "ValueError",
        r"Invalid `mode` argument: 'fan_inn'\. Accepted: fan_in, fan_out, fan_avg"),
    Bad("mode of the wrong type (still a ValueError)",
        "initlab.VarianceScaling(mode=None)", "ValueError",
        r"Invalid `mode` argument: None\. Accepted: fan_in, fan_out, fan_avg"),
    Bad("typo in distribution", 'initlab.VarianceScaling(distribution="truncated")',
        "ValueError", r"Invalid `distribution` argument: 'truncated'\. Accepted: "
        r"uniform, truncated_normal, untruncated_normal"),
    Bad("distribution of the wrong type (still a ValueError)",
        "initlab.VarianceScaling(distribution=None)", "ValueError",
        r"Invalid `distribution` argument: None\. Accepted: uniform, "
        r"truncated_normal, untruncated_normal"),
    Bad("zero scale", "initlab.VarianceScaling(scale=0.0)", "ValueError",
        r"Argument `scale` must be a positive finite float\. Received: scale=0\.0"),
    Bad("negative scale", "initlab.VarianceScaling(scale=-2.0)", "ValueError",
        r"Argument `scale` must be a positive finite float\. Received: scale=-2\.0"),
    Bad("NaN scale", 'initlab.VarianceScaling(scale=float("nan"))', "ValueError",
        r"Argument `scale` must be a positive finite float\. Received: scale=nan"),
    Bad("infinite scale", 'initlab.VarianceScaling(scale=float("inf"))', "ValueError",
        r"Argument `scale` must be a positive finite float\. Received: scale=inf"),
    Bad("negative stddev", "initlab.RandomNormal(stddev=-0.1)", "ValueError",
        r"Argument `stddev` must be non-negative\. Received: stddev=-0\.1"),
    Bad("negative stddev (truncated)", "initlab.TruncatedNormal(stddev=-1.0)",
        "ValueError",
        r"Argument `stddev` must be non-negative\. Received: stddev=-1\.0"),
    Bad("minval > maxval", "initlab.RandomUniform(minval=1.0, maxval=-1.0)",
        "ValueError", r"Argument `minval` must not exceed `maxval`\. "
        r"Received: minval=1\.0, maxval=-1\.0"),
    Bad("infinite gain", 'initlab.Orthogonal(gain=float("inf"))', "ValueError",
        r"Argument `gain` must be finite\. Received: gain=inf"),
    Bad("NaN gain", 'initlab.Identity(gain=float("nan"))', "ValueError",
        r"Argument `gain` must be finite\. Received: gain=nan"),
    Bad("infinite value", 'initlab.Constant(value=float("inf"))', "ValueError",
        r"Argument `value` must be finite\. Received: value=inf"),
    Bad("value given as text", 'initlab.Constant(value="0.5")', "ValueError",
        r"Argument `value` must be a real number\. Received: value='0\.5'"),
    Bad("axes that are not integers", 'initlab.VarianceScaling(input_axes="ab")',
        "ValueError", r"Argument `input_axes` must be a list of integer axes or None\. "
        r"Received: input_axes='ab'"),
    Bad("truncation bounds in the wrong order",
        "initlab.TorchTruncatedNormal(a=1.0, b=-1.0)", "ValueError",
        r"Argument `a` must be below `b`\. Received: a=1\.0, b=-1\.0"),
    # ------------------------------------------------------------------------ seeds
    Bad("seed given as text", 'initlab.GlorotUniform(seed="42")', "TypeError",
        r"`seed` must be a non-negative integer or None\. Received: seed='42' of "
        r"type str"),
    Bad("seed given as a float", "initlab.RandomNormal(seed=1.5)", "TypeError",
        r"`seed` must be a non-negative integer or None\. Received: seed=1\.5 of "
        r"type float"),
    Bad("negative seed", "initlab.RandomNormal(seed=-1)", "ValueError",
        r"`seed` must be a non-negative integer\. Received: seed=-1"),
    # ----------------------------------------------------------------------- shapes
    Bad("Orthogonal below rank 2", "initlab.Orthogonal()((7,))", "ValueError",
        r"Orthogonal needs a shape of rank >= 2\. Received: shape=\(7,\) of rank 1"),
    Bad("Orthogonal on a scalar", "initlab.Orthogonal()(())", "ValueError",
        r"Orthogonal needs a shape of rank >= 2\. Received: shape=\(\) of rank 0"),
    Bad("Identity off rank 2 (3-D)", "initlab.Identity()((3, 3, 3))", "ValueError",
        r"Identity needs a 2-D shape\. Received: shape=\(3, 3, 3\) of rank 3"),
    Bad("Identity off rank 2 (1-D)", "initlab.Identity()((4,))", "ValueError",
        r"Identity needs a 2-D shape\. Received: shape=\(4,\) of rank 1"),
    Bad("DeltaOrthogonal with fewer outputs than inputs",
        "initlab.DeltaOrthogonal()((3, 3, 32, 16))", "ValueError",
        r"at least as many output channels as input channels\. Received: "
        r"shape=\(3, 3, 32, 16\) \(keras layout\) with in=32, out=16"),
    Bad("negative dimension", "initlab.GlorotUniform()((64, -1))", "ValueError",
        r"`shape` dimensions must be non-negative\. Received: shape=\(64, -1\)"),
    Bad("non-integer dimension", "initlab.GlorotUniform()((64, 2.5))", "TypeError",
        r"`shape` must contain only integers\. Received: shape=\(64, 2\.5\) "
        r"\(dimension 2\.5 is a float\)"),
    Bad("shape given as text", 'initlab.GlorotUniform()("64,128")', "TypeError",
        r"`shape` must be a tuple of integers, not text\. Received: shape='64,128'; "
        r"write it as a tuple, e\.g\. \(512, 256\)"),
    Bad("shape of None", "initlab.GlorotUniform()(None)", "TypeError",
        r"`shape` must be a tuple of integers\. Received: shape=None"),
    Bad("array larger than the machine's memory (refused before allocating)",
        "initlab.GlorotUniform()((1 << 20, 1 << 20))", "ValueError",
        r"shape=\(1048576, 1048576\) in float32 needs 4096\.0 GiB, more than this "
        r"machine's [\d.]+ GiB of memory"),
    Bad("fan axis out of range", "initlab.compute_fans((3, 3), in_axis=5)",
        "ValueError", r"`in_axis`=\(5,\) is out of range for a shape of rank 2; "
        r"accepted axes: -2 to 1"),
    Bad("VarianceScaling axis out of range",
        "initlab.VarianceScaling(input_axes=[5], output_axes=[0])((2, 2))",
        "ValueError", r"`input_axes`=\[5\] is out of range for shape=\(2, 2\) of rank "
        r"2; accepted axes: -2 to 1"),
    # ------------------------------------------------------------ call arguments
    Bad("integer dtype for a random entry", 'initlab.GlorotUniform()((2, 2), "int32")',
        "TypeError", r"Random initializers need a floating dtype; received "
        r"dtype=int32\. Accepted: float16, bfloat16, float32, float64"),
    Bad("complex dtype for a random entry",
        'initlab.RandomNormal()((2, 2), "complex64")', "TypeError",
        r"received dtype=complex64\. Accepted: float16, bfloat16, float32, float64"),
    Bad("bool dtype for a random entry", "initlab.HeNormal()((2, 2), torch.bool)",
        "TypeError", r"received dtype=bool\. Accepted: float16, bfloat16, float32, "
        r"float64"),
    Bad("unknown dtype", 'initlab.GlorotUniform()((2, 2), "float33")', "TypeError",
        r"Unknown dtype 'float33'\. Accepted: float16, bfloat16, float32, float64"),
    Bad("text dtype for a constant", 'initlab.Zeros()((2,), "U3")', "TypeError",
        r"Unsupported dtype=str96\. Accepted: float16, bfloat16, float32, float64, "
        r"an integer dtype or bool"),
    Bad("constant not exact in an integer dtype",
        'initlab.Constant(0.5)((2,), "int32")', "ValueError",
        r"Constant value 0\.5 cannot be stored exactly in int32; use a "
        r"floating dtype or a whole number in \[-2147483648, 2147483647\]"),
    Bad("typo in layout", 'initlab.GlorotUniform()((2, 2), layout="jax")', "ValueError",
        r"Invalid `layout` argument: 'jax'\. Accepted: keras, torch"),
    Bad("rng of the wrong type", "initlab.GlorotUniform()((2, 2), rng=42)", "TypeError",
        r"`rng` must be a numpy\.random\.Generator or None\. Received: rng=42"),
    Bad("name of the wrong type", "initlab.GlorotUniform()((2, 2), name=3)",
        "TypeError", r"`name` must be a string\. Received: name=3"),
    # ------------------------------------------------------------------- initialize
    Bad("initialize: unknown policy", L + 'policy="kerass")', "ValueError",
        r"Invalid policy 'kerass': Unknown initializer: 'kerass'\..* Accepted: "
        r"'keras', 'torch', a dict of rules, or an initializer"),
    Bad("initialize: policy None", L + "policy=None)", "ValueError",
        r"Invalid policy None\. Accepted: 'keras', 'torch', a dict of rules, or an "
        r"initializer"),
    Bad("initialize: unknown base policy in rules", L + 'policy={"base": "jax"})',
        "ValueError",
        r"Invalid 'base' in policy rules: 'jax'\. Accepted: keras, torch"),
    Bad("initialize: unknown initializer in a rule",
        L + 'policy={"*weight": "glorot_unifrom"})', "ValueError",
        r"Invalid policy rule '\*weight': Unknown initializer: 'glorot_unifrom'\. "
        r"Did you mean 'glorot_uniform'"),
    Bad("initialize: rule value of the wrong type", L + 'policy={"Linear.weight": 3})',
        "TypeError", r"Invalid policy rule 'Linear\.weight': Could not interpret "
        r"initializer identifier: 3\. Accepted: a name, a config dict"),
    Bad("initialize: typo in fans", L + 'fans="layers")', "ValueError",
        r"Invalid `fans`: 'layers'\. Accepted: compatible, layer"),
    Bad("initialize: typo in recurrent", L + 'recurrent="pergate")', "ValueError",
        r"Invalid `recurrent`: 'pergate'\. Accepted: fused, per_gate"),
    Bad("initialize: seed given as text", L + 'seed="0")', "TypeError",
        r"`seed` must be a non-negative integer or None\. Received: seed='0'"),
    Bad("initialize: not a module", 'initlab.torch.initialize("model")', "TypeError",
        r"`model` must be a torch\.nn\.Module\. Received: str"),
    # -------------------------------------------------------------------------- CLI
    Bad("list: unknown flag", "initlab list --bad", EXIT_2, r"No such option: --bad"),
    Bad("list: extra argument", "initlab list glorot_uniform", EXIT_2,
        r"Got unexpected extra argument\(s\) \(glorot_uniform\)"),
    Bad("sample: unknown name", "initlab sample glorot_unifrom --shape 3,3", EXIT_2,
        r"Unknown initializer: 'glorot_unifrom'\. Did you mean 'glorot_uniform'"),
    Bad("sample: missing --shape", "initlab sample he_normal", EXIT_2,
        r"Missing option '--shape'"),
    Bad("sample: unknown flag", "initlab sample he_normal --shape 4 --bogus 1", EXIT_2,
        r"No such option: --bogus"),
    Bad("sample: malformed --shape", "initlab sample he_normal --shape 3,x", EXIT_2,
        r"Malformed --shape '3,x': 'x' is not a non-negative integer\. Accepted: "
        r"comma-separated non-negative integers"),
    Bad("sample: negative dimension", "initlab sample he_normal --shape 64,-1", EXIT_2,
        r"Malformed --shape '64,-1': '-1' is not a non-negative integer"),
    Bad("sample: typo in --layout", "initlab sample he_normal --shape 4,4 --layout jax",
        EXIT_2, r"Invalid --layout 'jax'\. Accepted: keras, torch"),
    Bad("sample: --seed not a number",
        "initlab sample he_normal --shape 4,4 --seed abc", EXIT_2,
        r"Invalid --seed 'abc'.*non-negative integer"),
    Bad("sample: negative --seed", "initlab sample he_normal --shape 4,4 --seed -1",
        EXIT_2, r"Invalid --seed -1: it must be a non-negative integer"),
    Bad("sample: integer --dtype", "initlab sample he_normal --shape 4,4 --dtype int32",
        EXIT_2,
        r"received dtype=int32\. Accepted: float16, bfloat16, float32, float64"),
    Bad("sample: unknown --dtype",
        "initlab sample he_normal --shape 4,4 --dtype float33", EXIT_2,
        r"Unknown dtype 'float33'\. Accepted: float16, bfloat16, float32, float64"),
    Bad("sample: Orthogonal below rank 2", "initlab sample orthogonal --shape 7",
        EXIT_2,
        r"Orthogonal needs a shape of rank >= 2\. Received: shape=\(7,\)"),
    Bad("sample: Identity off rank 2", "initlab sample identity --shape 3,3,3", EXIT_2,
        r"Identity needs a 2-D shape\. Received: shape=\(3, 3, 3\)"),
    Bad("sample: array beyond memory",
        "initlab sample he_normal --shape 1048576,1048576", EXIT_2,
        r"shape=\(1048576, 1048576\) in float32 needs 4096\.0 GiB"),
    Bad("sample: malformed JSON config",
        """initlab sample '{"class_name": ' --shape 4""", EXIT_2,
        r"Invalid initializer config JSON '\{\"class_name\":'"),
    Bad("sample: config with an unknown key",
        """initlab sample '{"class_name": "RandomNormal", "config": {"std": 1}}' """
        "--shape 4", EXIT_2,
        r"Unknown keys for RandomNormal: \['std'\]\. Accepted: mean, seed, stddev"),
    Bad("sample: config with a typo in mode",
        """initlab sample '{"class_name": "VarianceScaling", "config": """
        """{"mode": "fan_inn"}}' --shape 4,4""", EXIT_2,
        r"Invalid `mode` argument: 'fan_inn'\. Accepted: fan_in, fan_out, fan_avg"),
]

_NAMESPACE = {"initlab": initlab, "np": np, "nn": nn, "torch": torch}
_BOX = re.compile(r"[\u2500-\u257f]")  # rich's box drawing around click's errors


def observe(bad: Bad) -> tuple[str, str, str, str]:
    """Run one row: (error, message, stdout, stderr); error is the exception's
    type name, "exit N" for the CLI, or "no error"."""
    if bad.cli:
        result = CliRunner().invoke(app, shlex.split(bad.input)[1:])
        stderr = " ".join(_BOX.sub(" ", result.stderr).split())
        message = stderr.removeprefix("error: ")
        crashed = result.exception is not None and \
            not isinstance(result.exception, SystemExit)
        if crashed:
            return type(result.exception).__name__, repr(result.exception), \
                result.stdout, result.stderr
        if "Usage:" in message:  # click's usage errors: keep the error line
            message = message.split("help. ", 1)[-1].removeprefix("Error ")
        return f"exit {result.exit_code}", message, result.stdout, result.stderr
    try:
        eval(bad.input, dict(_NAMESPACE))  # noqa: S307 - the table's own expressions
    except Exception as exc:  # noqa: BLE001 - the row says which type it must be
        return type(exc).__name__, str(exc), "", ""
    return "no error", "", "", ""


@pytest.mark.parametrize("bad", TABLE, ids=[b.what for b in TABLE])
def test_bad_input_has_a_clear_answer(bad):
    error, message, stdout, stderr = observe(bad)
    assert error == bad.error, (error, message)
    assert re.search(bad.message, message), message
    if bad.cli:
        assert stdout == "", stdout
        assert "Traceback" not in stderr


def test_the_table_is_wide_enough():
    assert len(TABLE) >= 30
    assert len({b.input for b in TABLE}) == len(TABLE)
    assert sum(b.cli for b in TABLE) >= 10
    assert {b.error for b in TABLE} == {"ValueError", "TypeError", EXIT_2}


# --------------------------------------------------------------------------- docs


def _cell(text: str) -> str:
    return "`` " + text.replace("|", "\\|") + " ``"


def _uncell(cell: str) -> str:
    return cell.strip().removeprefix("`` ").removesuffix(" ``").replace("\\|", "|")


def render() -> str:
    """docs/errors.md: the table with the messages as they read."""
    lines = [
        "# Errors: every bad input and its answer",
        "",
        "Errors are raised when the bad value is given (at construction for",
        "constructor arguments), name the argument, show the value received and say",
        "what is accepted. A bad value of an enumerated argument (`mode`,",
        "`distribution`, `layout`, `fans`, `recurrent`, a policy) is a `ValueError`",
        "even when its type is wrong, as in Keras; a bad dtype, shape type or seed",
        "type is a `TypeError`. The command line prints one line on stderr, nothing on",
        "stdout, no traceback (unless `--verbose`), and exits with code 2.",
        "",
        "Python inputs run with `initlab`, `numpy as np`, `torch` and `torch.nn as nn`",
        "imported. This page is generated from `tests/test_bad_inputs.py`, whose one",
        "parametrized test checks every row (`python tests/test_bad_inputs.py >",
        "docs/errors.md` regenerates it; the test suite checks that it is current).",
        "Memory sizes in messages are this machine's.",
        "",
        "| # | what | input | error | message |",
        "|---:|---|---|---|---|",
    ]
    for number, bad in enumerate(TABLE, 1):
        _, message, _, _ = observe(bad)
        lines.append(f"| {number} | {bad.what} | {_cell(bad.input)} | {bad.error} | "
                     f"{_cell(message)} |")
    return "\n".join(lines) + "\n"


def _docs_rows() -> list[list[str]]:
    rows = []
    for line in DOCS.read_text().splitlines():
        if re.match(r"^\| \d+ \|", line):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip() for c in cells])
    return rows


def test_docs_list_the_same_table():
    rows = _docs_rows()
    assert [(r[1], _uncell(r[2]), r[3]) for r in rows] == \
        [(b.what, b.input, b.error) for b in TABLE], \
        "docs/errors.md is stale: python tests/test_bad_inputs.py > docs/errors.md"
    for row, bad in zip(rows, TABLE, strict=True):
        assert re.search(bad.message, _uncell(row[4])), (bad.what, row[4])


if __name__ == "__main__":
    sys.stdout.write(render())
