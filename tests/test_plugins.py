"""--import / INITLAB_IMPORT make registered initializers usable by name in the CLI,
study workers included."""

import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest

PLUGIN = textwrap.dedent('''
    import numpy as np
    import initlab

    @initlab.register(name="plugin_halves")
    class PluginHalves(initlab.Initializer):
        formula = "w = 0.5"

        def _generate(self, shape, dtype, source, layout, fans=None):
            return np.full(shape, 0.5, dtype=dtype)
''')


@pytest.fixture
def plugin_env(tmp_path):
    (tmp_path / "plugin_mod.py").write_text(PLUGIN)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    env.pop("INITLAB_IMPORT", None)
    return env


def _cli(args, env):
    return subprocess.run([sys.executable, "-m", "initlab.cli", *args], env=env,
                          capture_output=True, text=True)


def test_import_option_makes_a_registered_name_usable(plugin_env):
    result = _cli(["--import", "plugin_mod", "sample", "plugin_halves", "--shape",
                   "2,3", "--json"], plugin_env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["mean"] == out["min"] == out["max"] == 0.5


def test_environment_variable_works_too(plugin_env):
    plugin_env["INITLAB_IMPORT"] = "plugin_mod"
    result = _cli(["sample", "plugin_halves", "--shape", "4", "--json"], plugin_env)
    assert result.returncode == 0, result.stderr


def test_without_import_the_name_is_unknown(plugin_env):
    result = _cli(["sample", "plugin_halves", "--shape", "4"], plugin_env)
    assert result.returncode == 2 and "plugin_halves" in result.stderr


def test_bad_module_is_one_sentence_and_exit_2(plugin_env):
    result = _cli(["--import", "no_such_module_xyz", "list"], plugin_env)
    assert result.returncode == 2
    assert "no_such_module_xyz" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_study_workers_import_the_plugin(plugin_env, tmp_path):
    out = tmp_path / "study"
    result = _cli(["--import", "plugin_mod", "study", "--inits", "plugin_halves",
                   "--seeds", "2", "--epochs", "1", "--workers", "2", "--out",
                   str(out), "--quiet"], plugin_env)
    assert result.returncode == 0, result.stderr
    with open(out / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["init"] for row in rows] == ["plugin_halves"]
    assert rows[0]["n_runs"] == "2"


@pytest.mark.parametrize("args, expected", [
    (["study", "--seeds", "abc"], "'--seeds' (received 'abc')"),
    (["study", "--seeds=abc"], "'--seeds' (received 'abc')"),
    (["sample", "he_normal"], "Missing option '--shape'"),
    (["study", "--bogus", "3"], "No such option: --bogus"),
    (["nosuchcmd"], "No such command 'nosuchcmd'"),
])
def test_usage_errors_are_one_sentence_with_exit_code_2(args, expected):
    result = _cli(args, dict(os.environ))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and "╭" not in result.stderr


def test_verbose_adds_the_traceback_and_keeps_exit_code_2():
    result = _cli(["--verbose", "sample", "he_normall", "--shape", "2"],
                  dict(os.environ))
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "he_normal" in result.stderr
