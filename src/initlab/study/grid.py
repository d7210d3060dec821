"""Study grids and spec files: datasets x models x settings x initializers x seeds.

A study's settings come from a spec file (TOML, or JSON), from flags, or both (flags
win). Every key is a flag: ``dataset, model, inits, seeds, seed, epochs, depth,
width, activation, optimizer, lr, momentum, batch_size, split_seed, vary,
fixed_seed, label_column, labels, out, workers, quiet`` (see :data:`KEYS`). A key
of :data:`GRID_KEYS` given several values (a TOML array, or a comma-separated
flag) is a grid dimension: the study is every combination of them, one
:class:`~initlab.study.spec.StudySpec` per grid cell, each trained with every init
entry on every seed.

Everything is checked before anything runs, and a bad value is refused with one
sentence naming the key, the value and what is accepted.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from initlab import seeds as seeds_module
from initlab.study.sources import BUILTIN_DATASETS
from initlab.study.spec import (
    ACTIVATIONS,
    MAX_SEED,
    MODEL_DEFAULTS,
    MODELS,
    OPTIMIZERS,
    VARY,
    RunSpec,
    StudySpec,
    _digest,
    default_inits,
    split_entries,
)

__all__ = [
    "GRID_KEYS",
    "KEYS",
    "SpecError",
    "StudyGrid",
    "build_grid",
    "parse_flag",
    "read_spec_file",
]

#: Keys that take several values, each value a grid dimension, in the order the
#: grid is expanded (the first varies slowest).
GRID_KEYS = ("dataset", "model", "optimizer", "lr", "momentum", "batch_size",
             "depth", "width", "activation", "epochs", "vary")


@dataclass(frozen=True)
class Key:
    """A spec key: its type and what it accepts.

    Attributes:
        kind: ``int``, ``float``, ``str``, ``bool``, ``seed`` (an int or
            ``"random"``) or ``inits``.
        minimum: The smallest accepted number.
        choices: The accepted strings.
        accepted: What is accepted, in words, for messages.
    """

    kind: str
    minimum: float | None = None
    choices: tuple[str, ...] | None = None
    accepted: str = ""


KEYS: dict[str, Key] = {
    "dataset": Key("str", accepted=f"{', '.join(BUILTIN_DATASETS)}, or the path of "
                   "an .npz, .csv or IDX file"),
    "model": Key("str", choices=MODELS),
    "inits": Key("inits", accepted="initializer names or configs, or the policies "
                 "keras, torch"),
    "seeds": Key("int", minimum=1),
    "seed": Key("seed", minimum=0),
    "epochs": Key("int", minimum=0),
    "depth": Key("int", minimum=0),
    "width": Key("int", minimum=1),
    "activation": Key("str", choices=ACTIVATIONS),
    "optimizer": Key("str", choices=OPTIMIZERS),
    "lr": Key("float", accepted="a positive number"),
    "momentum": Key("float", accepted="a number in [0, 1)"),
    "batch_size": Key("int", minimum=1),
    "split_seed": Key("int", minimum=0),
    "vary": Key("str", choices=VARY),
    "fixed_seed": Key("int", minimum=0),
    "label_column": Key("str", accepted="the name of a CSV column"),
    "labels": Key("str", accepted="the path of an IDX labels file"),
    "out": Key("str", accepted="a folder"),
    "workers": Key("int", minimum=1),
    "quiet": Key("bool", accepted="true or false"),
}
#: Keys that are not settings of the runs, but of the command.
COMMAND_KEYS = ("out", "workers", "quiet")


class SpecError(ValueError):
    """A spec (file or flags) that cannot be run; the message names the key."""


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


class _Label:
    """How a message names a key's value: ``--lr 0.0`` or ``lr = 0 in spec.toml``."""

    def __init__(self, key: str, origin: str | None):
        self.key, self.origin = key, origin

    def __call__(self, value: Any) -> str:
        if self.origin is None:
            return f"{_flag(self.key)} {value!r}"
        return f"{self.key} = {_toml_text(value)} in {self.origin}"

    @property
    def name(self) -> str:
        return _flag(self.key) if self.origin is None else (
            f"key {self.key!r} of {self.origin}")


def _toml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_text(v) for v in value) + "]"
    return repr(value)


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _check_one(key: str, value: Any, label: _Label) -> Any:
    """Check one value of ``key``; return it normalized."""
    spec = KEYS[key]
    if spec.kind in ("int", "seed"):
        if spec.kind == "seed" and value == "random":
            return value
        extra = " or 'random'" if spec.kind == "seed" else ""
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise SpecError(f"Invalid {label(value)}: it must be an integer >= "
                            f"{spec.minimum:g}{extra}; got {_type_name(value)}.")
        if value < spec.minimum:
            raise SpecError(f"Invalid {label(value)}: it must be an integer >= "
                            f"{spec.minimum:g}{extra}.")
        if spec.kind == "seed" and value > MAX_SEED:
            raise SpecError(f"Invalid {label(value)}: it must be at most {MAX_SEED} "
                            "(2**63 - 1).")
        return int(value)
    if spec.kind == "float":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise SpecError(f"Invalid {label(value)}: it must be a real number "
                            f"({spec.accepted}); got {_type_name(value)}.")
        value = float(value)
        if not math.isfinite(value):
            raise SpecError(f"Invalid {label(value)}: it must be finite.")
        if key == "lr" and value <= 0:
            raise SpecError(f"Invalid {label(value)}: it must be a positive number.")
        if key == "momentum" and not 0 <= value < 1:
            raise SpecError(f"Invalid {label(value)}: it must be in [0, 1).")
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(f"Invalid {label(value)}: it must be true or false; got "
                            f"{_type_name(value)}.")
        return value
    if not isinstance(value, str):
        accepted = ", ".join(spec.choices) if spec.choices else spec.accepted
        raise SpecError(f"Invalid {label(value)}: it must be a string ({accepted}); "
                        f"got {_type_name(value)}.")
    value = value.strip()
    if spec.choices is not None and value not in spec.choices:
        raise SpecError(f"Unknown {label(value)}. Accepted: {', '.join(spec.choices)}.")
    if not value:
        raise SpecError(f"Invalid {label(value)}: it must not be empty "
                        f"({spec.accepted}).")
    return value


def _check_inits(value: Any, label: _Label) -> tuple[Any, ...]:
    if isinstance(value, str):
        entries: list[Any] = split_entries(value)
    elif isinstance(value, (list, tuple)):
        entries = list(value)
    else:
        raise SpecError(f"Invalid {label(value)}: it must be an array of "
                        f"{KEYS['inits'].accepted} (or one comma-separated string); "
                        f"got {_type_name(value)}.")
    checked = []
    for entry in entries:
        if isinstance(entry, str) and entry.strip().startswith("{"):
            try:
                entry = json.loads(entry)
            except json.JSONDecodeError as exc:
                raise SpecError(f"Invalid initializer config JSON {entry!r} in "
                                f"{label.name}: {exc.msg}.") from None
        if not isinstance(entry, (str, Mapping)) or (isinstance(entry, str)
                                                     and not entry.strip()):
            raise SpecError(f"Invalid entry {entry!r} in {label.name}: it must be "
                            "an initializer name, a config table, or the policies "
                            "keras, torch.")
        checked.append(entry.strip() if isinstance(entry, str) else dict(entry))
    return tuple(checked)


def check_value(key: str, value: Any, origin: str | None = None) -> Any:
    """Check the value of ``key`` (from a flag when ``origin`` is None, else from
    the spec file named ``origin``); return it normalized, a tuple for a grid key.

    Raises:
        SpecError: an unknown key, a value of the wrong type, or a bad value.
    """
    if key not in KEYS:
        where = f" in {origin}" if origin else ""
        raise SpecError(f"Unknown key {key!r}{where}. Accepted keys: "
                        f"{', '.join(KEYS)}.")
    label = _Label(key, origin)
    if key == "inits":
        return _check_inits(value, label)
    if key in GRID_KEYS:
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values:
            raise SpecError(f"Invalid {label(value)}: give at least one value.")
        checked = tuple(_check_one(key, v, label) for v in values)
        seen: list[Any] = []
        for v in checked:
            if v in seen:
                raise SpecError(f"Invalid {label(value)}: {v!r} is listed twice. "
                                "Give each value once.")
            seen.append(v)
        return checked
    if isinstance(value, (list, tuple)):
        raise SpecError(f"Invalid {label(value)}: {label.name} takes one value, not "
                        "a list (only " + ", ".join(GRID_KEYS) + " make a grid).")
    return _check_one(key, value, label)


def parse_flag(key: str, text: str) -> Any:
    """The value of flag ``--<key>`` given as ``text``, checked: a tuple of values
    for a grid key (comma-separated), the value otherwise.

    Raises:
        SpecError: text that is not of the key's type, or a bad value.
    """
    spec = KEYS[key]
    if key == "inits":
        return check_value(key, text)
    parts = [part.strip() for part in text.split(",")] if key in GRID_KEYS else [
        text.strip()]
    values: list[Any] = []
    for part in parts:
        if spec.kind in ("int", "seed"):
            if spec.kind == "seed" and part == "random":
                values.append(part)
                continue
            digits = part if spec.kind == "seed" else part.removeprefix("-")
            if not (digits.isascii() and digits.isdigit()):
                extra = " or 'random'" if spec.kind == "seed" else ""
                raise SpecError(f"Invalid {_flag(key)} {part!r}: it must be an integer "
                                f">= {spec.minimum:g}{extra}.")
            values.append(int(part))
        elif spec.kind == "float":
            try:
                values.append(float(part))
            except ValueError:
                raise SpecError(f"Invalid {_flag(key)} {part!r}: it must be a real "
                                f"number ({spec.accepted}).") from None
        else:
            values.append(part)
    return check_value(key, values if key in GRID_KEYS else values[0])


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Read a spec file (TOML, or JSON when its name ends in ``.json``) and check
    every key and value.

    Returns:
        The checked values (grid keys as tuples).

    Raises:
        SpecError: a file that cannot be read or parsed, an unknown key, a wrong
            type or a bad value, naming the file and the key.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
        import tomli as tomllib

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"Spec file {str(path)!r} does not exist.") from None
    except IsADirectoryError:
        raise SpecError(f"Spec file {str(path)!r} is a folder; give a .toml file."
                        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise SpecError(f"Cannot read spec file {str(path)!r}: {reason}.") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise SpecError(f"Spec file {str(path)!r} is not valid {kind}: {exc}."
                        ) from None
    if not isinstance(data, dict):
        raise SpecError(f"Spec file {str(path)!r} must hold a table of keys.")
    return {key: check_value(key, value, str(path)) for key, value in data.items()}


# --------------------------------------------------------------------------- grid


@dataclass(frozen=True)
class StudyGrid:
    """A study over a grid of settings: one :class:`StudySpec` per grid cell, all
    with the same init entries and seeds.

    It offers what :func:`initlab.study.runner.run_study` needs of a spec
    (``runs``, ``settings``, ``seed_drawn``, ``default_out``), so a grid runs as
    one study into one folder.

    Attributes:
        specs: One spec per grid cell, in grid order.
        dimensions: The grid keys given more than one value, with their values.
    """

    specs: tuple[StudySpec, ...]
    dimensions: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def first(self) -> StudySpec:
        return self.specs[0]

    @property
    def seed(self) -> int:
        return self.first.seed

    @property
    def seeds(self) -> int:
        return self.first.seeds

    @property
    def seed_drawn(self) -> bool:
        return self.first.seed_drawn

    @property
    def inits(self) -> tuple[Any, ...]:
        return self.first.inits

    def runs(self) -> list[RunSpec]:
        """Every run, seed-major across the cells: all cells' runs of the first
        seed come first, so a study stopped early holds comparable runs."""
        per_seed = len(self.inits)
        cells = [spec.runs() for spec in self.specs]
        return [run for index in range(self.seeds) for runs in cells
                for run in runs[index * per_seed : (index + 1) * per_seed]]

    def settings(self) -> dict[str, Any]:
        """The cells' settings in one dict: a list of the values where cells differ
        (grid dimensions, and model defaults that differ between models)."""
        cells = [spec.settings() for spec in self.specs]
        settings = dict(cells[0])
        for key in settings:
            values = []
            for cell in cells:
                if cell.get(key) not in values:
                    values.append(cell.get(key))
            if len(values) > 1:
                settings[key] = values
        return settings

    @property
    def spec_hash(self) -> str:
        if len(self.specs) == 1:
            return self.first.spec_hash
        return _digest([spec.spec_hash for spec in self.specs], 8)

    def default_out(self) -> str:
        """A single cell's folder (:meth:`StudySpec.default_out`), else
        ``runs/<dataset or multi>-<model or multi>-<grid hash>``."""
        if len(self.specs) == 1:
            return self.first.default_out()
        datasets = {spec.source.name for spec in self.specs}
        models = {spec.model for spec in self.specs}
        dataset = datasets.pop() if len(datasets) == 1 else "multi"
        model = models.pop() if len(models) == 1 else "multi"
        return f"runs/{dataset}-{model}-{self.spec_hash}"

    def describe(self) -> str:
        """``digits/cnn`` or ``2 x 3 grid (dataset, model)``, for the command line."""
        if not self.dimensions:
            return f"{self.first.source.name}/{self.first.model}"
        sizes = " x ".join(str(len(v)) for v in self.dimensions.values())
        return f"{sizes} grid ({', '.join(self.dimensions)}) of {len(self.specs)} cells"


def build_grid(values: Mapping[str, Any],
               origins: Mapping[str, str | None] | None = None) -> StudyGrid:
    """Expand checked values (:func:`check_value`, :func:`read_spec_file`) into a
    grid of specs.

    Args:
        values: Key -> checked value; grid keys as tuples. Keys left out take their
            defaults (the model's :data:`~initlab.study.spec.MODEL_DEFAULTS` for
            depth, width, activation, optimizer, lr and batch_size).
        origins: Key -> the spec file it came from (None: a flag), for messages.

    Momentum applies to SGD: in a grid of optimizers, the Adam cells take momentum
    0 (cells that become equal are one cell); a momentum other than 0 without SGD
    in the grid is refused.

    Raises:
        SpecError, ValueError, TypeError: a value or a combination that cannot run.
    """
    origins = dict(origins or {})

    def label(key: str) -> _Label:
        return _Label(key, origins.get(key))

    unknown = [key for key in values if key not in KEYS]
    if unknown:
        raise SpecError(f"Unknown key {unknown[0]!r}. Accepted keys: "
                        f"{', '.join(KEYS)}.")
    seed = values.get("seed", 0)
    drawn = seed == "random"
    if drawn:
        seed = seeds_module.fresh_seed()
    grid = {key: values[key] for key in GRID_KEYS if key in values}
    optimizers = set(grid.get("optimizer", ())) or {
        MODEL_DEFAULTS[model]["optimizer"] for model in grid.get("model", ("mlp",))
        if model in MODEL_DEFAULTS}
    momentum = [m for m in grid.get("momentum", ()) if m != 0]
    if momentum and "sgd" not in optimizers:
        raise SpecError(
            f"Invalid {label('momentum')(momentum[0])} with optimizer "
            f"{', '.join(sorted(optimizers))}: momentum applies to sgd only. "
            "Accepted with adam: 0."
        )
    datasets = grid.get("dataset", ("digits",))
    for key, suffix, what in (("label_column", (".csv",), "CSV"),
                              ("labels", None, "IDX")):
        if key not in values:
            continue
        if suffix and not any(str(d).lower().endswith(suffix) for d in datasets):
            raise SpecError(f"{label(key).name} applies to {what} datasets; no "
                            "dataset of this study is a .csv file.")
        if suffix is None and all(d in BUILTIN_DATASETS or str(d).lower().endswith(
                (".npz", ".csv")) for d in datasets):
            raise SpecError(f"{label(key).name} applies to {what} datasets; no "
                            "dataset of this study is an IDX file.")
    common = {key: values[key] for key in ("seeds", "epochs", "split_seed",
                                           "fixed_seed", "label_column", "labels")
              if key in values and key not in GRID_KEYS}
    inits = values.get("inits", default_inits())
    keys = list(grid)
    specs: list[StudySpec] = []
    seen: set[str] = set()
    for combination in itertools.product(*(grid[key] for key in keys)):
        cell = dict(zip(keys, combination, strict=True))
        optimizer = cell.get("optimizer") or MODEL_DEFAULTS.get(
            cell.get("model", "mlp"), {}).get("optimizer")
        if optimizer == "adam":
            cell["momentum"] = 0.0  # momentum is an SGD setting
        spec = StudySpec(inits=inits, seed=seed, **common, **cell)
        if drawn:
            object.__setattr__(spec, "seed_drawn", True)  # drawn once, for all cells
        identity = json.dumps(spec.settings(), sort_keys=True, default=str)
        if identity in seen:
            continue
        seen.add(identity)
        specs.append(spec)
    dimensions = {key: grid[key] for key in keys if len(grid[key]) > 1}
    return StudyGrid(tuple(specs), dimensions)


def spec_values(spec: StudySpec) -> dict[str, Any]:
    """The keys of a spec file that describe ``spec`` exactly (for ``initlab
    best`` and replays): every setting, the inits by label or config."""
    entries: list[Any] = []
    for entry in spec.inits:
        try:
            same = type(entry).parse(entry.label).config_json == entry.config_json
        except (ValueError, TypeError):
            same = False
        entries.append(entry.label if same else entry.config_json)
    values: dict[str, Any] = {
        "dataset": spec.source.path or spec.source.name, "model": spec.model,
        "inits": entries, "seeds": spec.seeds, "seed": spec.seed,
        "epochs": spec.epochs, "depth": spec.depth, "width": spec.width,
        "activation": spec.activation, "optimizer": spec.optimizer, "lr": spec.lr,
        "momentum": spec.momentum, "batch_size": spec.batch_size,
        "split_seed": spec.split_seed, "vary": spec.vary,
        "fixed_seed": spec.fixed_seed,
    }
    if spec.source.kind == "csv":
        values["label_column"] = spec.source.label_column
    if spec.source.kind == "idx":
        values["labels"] = spec.source.labels
    return values


def to_toml(values: Mapping[str, Any], comment: Sequence[str] = ()) -> str:
    """``values`` (strings, numbers, booleans and arrays of them) as TOML text."""
    lines = [f"# {line}" for line in comment]
    for key, value in values.items():
        lines.append(f"{key} = {_toml_text(value)}")
    return "\n".join(lines) + "\n"
