"""What a study is: its settings, its initializer entries, and the runs they expand to.

A :class:`StudySpec` is validated when it is built, so a bad value is refused before
anything is written or trained. It expands to one :class:`RunSpec` per
(initializer, seed); each run has a stable id derived from its settings, so the same
spec always names the same runs and a re-run can skip the ones already done.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import initlab
from initlab import seeds
from initlab.study.sources import BUILTIN_DATASETS, DataSource, resolve_source

__all__ = [
    "ACTIVATIONS",
    "DATASETS",
    "MODELS",
    "MODEL_DEFAULTS",
    "VARY",
    "OPTIMIZERS",
    "POLICIES",
    "InitEntry",
    "RunSpec",
    "StudySpec",
    "default_inits",
    "split_entries",
]

DATASETS = BUILTIN_DATASETS
MODELS = ("mlp", "cnn", "lstm")
#: What the run seeds vary: the initial weights, the data order, or both.
VARY = ("init", "order", "both")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "selu", "gelu", "linear")
OPTIMIZERS = ("sgd", "adam")
#: Entries that name a whole-model policy of ``initlab.torch.initialize``.
#: ``lsuv`` is the keras policy followed by LSUV on a batch of the training inputs
#: (``initlab.torch.initialize_lsuv``).
POLICIES = ("keras", "torch", "lsuv")

#: Each model's defaults for the settings a study leaves unset (None): chosen so
#: that 10 epochs reach a test accuracy above 0.9 on digits (and above 0.55 on
#: MNIST-1D with the MLP, 0.8 with the CNN and the LSTM), in about a second per
#: digits run on one CPU thread.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {"depth": 2, "width": 64, "activation": "relu", "optimizer": "adam",
            "lr": 3e-3, "batch_size": 32},
    "cnn": {"depth": 2, "width": 32, "activation": "relu", "optimizer": "adam",
            "lr": 3e-3, "batch_size": 32},
    "lstm": {"depth": 1, "width": 64, "activation": "relu", "optimizer": "adam",
             "lr": 3e-3, "batch_size": 32},
}

#: Statuses a run goes through; ``finished`` and ``diverged`` are final results.
#: The largest run seed (SQLite stores signed 64-bit integers).
MAX_SEED = 2**63 - 1

STATUSES = ("pending", "running", "finished", "diverged", "failed")
DONE = ("finished", "diverged")


def _digest(payload: Any, length: int) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class InitEntry:
    """One ``--inits`` entry: an initializer for every weight, or a policy name.

    Attributes:
        label: The entry as given, in canonical form: a catalog name in snake case
            (``glorot_uniform``), the name plus the non-default config values
            (``random_normal(stddev=1000000.0)``), or ``keras`` / ``torch``.
        config: What identifies the entry: Keras 3's full config form of the
            initializer, or the policy name.
        value: What ``initlab.torch.initialize`` takes as ``policy``: the
            initializer instance, or the policy name.
    """

    label: str
    config: Any
    value: Any = field(compare=False, repr=False)

    @property
    def config_json(self) -> str:
        """``config`` as compact JSON with sorted keys (stable across processes)."""
        return json.dumps(self.config, sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, entry: Any) -> InitEntry:
        """Build an entry from a name, a config dict, an initializer or an entry.

        Raises:
            ValueError: an unknown name or an invalid config.
            TypeError: an entry of another type.
        """
        if isinstance(entry, InitEntry):
            return entry
        if isinstance(entry, str) and entry.strip() in POLICIES:
            name = entry.strip()
            return cls(label=name, config=name, value=name)
        if isinstance(entry, str) and entry.strip().startswith("{"):
            try:
                entry = json.loads(entry)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"Invalid initializer config JSON {entry!r}: {exc.msg}."
                ) from None
        if isinstance(entry, str):
            entry = entry.strip()
        if not isinstance(entry, (str, Mapping, initlab.Initializer)):
            raise TypeError(
                f"Invalid init entry {entry!r} of type {type(entry).__name__}. "
                "Accepted: an initializer name, a config dict, an initlab "
                f"Initializer, or one of the policies {', '.join(POLICIES)}."
            )
        try:
            init = initlab.get(entry)
        except ValueError as exc:
            raise ValueError(
                f"Invalid --inits entry {entry!r}: {exc} The policies "
                f"{', '.join(repr(p) for p in POLICIES)} are accepted too."
            ) from None
        return cls(label=_label(init), config=initlab.serialize(init), value=init)


def _label(init: initlab.Initializer) -> str:
    """The canonical name, followed by the config values that differ from default."""
    name = initlab.canonical_name(init)
    try:
        default = type(init)().get_config()
    except TypeError:  # a custom class without defaults: show the whole config
        default = {}
    changed = {k: v for k, v in init.get_config().items() if default.get(k, k) != v}
    if not changed:
        return name
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


def split_entries(text: str) -> list[str]:
    """Split ``--inits`` text on the commas outside braces and brackets.

    ``he_normal,{"class_name": "RandomNormal", "config": {"stddev": 2, "seed": 1}}``
    gives two entries.

    Raises:
        ValueError: unbalanced braces or an empty entry.
    """
    entries, depth, current = [], 0, []
    for char in text:
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth < 0:
                break
        if char == "," and depth == 0:
            entries.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ValueError(
            f"Malformed --inits {text!r}: unbalanced braces. Accepted: comma-separated "
            "initializer names or JSON configs, e.g. glorot_uniform,he_normal."
        )
    entries.append("".join(current).strip())
    if any(not entry for entry in entries):
        raise ValueError(
            f"Malformed --inits {text!r}: an entry is empty. Accepted: comma-separated "
            "initializer names or JSON configs, e.g. glorot_uniform,he_normal."
        )
    return entries


def default_inits() -> tuple[str, ...]:
    """The 15 catalog initializers, in ``initlab.CATALOG`` order, by canonical name."""
    return tuple(initlab.canonical_name(cls) for cls in initlab.CATALOG)


@dataclass(frozen=True)
class RunSpec:
    """One training run: every setting it depends on, and its stable id.

    The id is a hash of the settings (``init`` by its config, not its spelling, so
    ``xavier_uniform`` and ``glorot_uniform`` name the same run) and of the stream
    version, since another stream version would start from other weights.

    ``seed`` is the run seed; the initial weights come from ``init_seed`` and the
    data order from ``order_seed``. With ``vary="both"`` (the default) both are
    the run seed; with ``"init"`` the order seed is the study's fixed seed, with
    ``"order"`` the init seed is. ``data_source`` is a data file's
    :meth:`~initlab.study.sources.DataSource.to_json` (empty for a built-in
    dataset), so a run's id changes with the file's content.
    """

    dataset: str
    model: str
    init: InitEntry
    seed: int
    depth: int
    width: int
    activation: str
    optimizer: str
    lr: float
    momentum: float
    batch_size: int
    epochs: int
    split_seed: int
    stream_version: int = seeds.STREAM_VERSION
    vary: str = "both"
    init_seed: int | None = None
    order_seed: int | None = None
    data_source: str = ""

    def __post_init__(self) -> None:
        for name in ("init_seed", "order_seed"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, self.seed)

    @property
    def data_key(self) -> str:
        """What :func:`initlab.study.datasets.load_dataset` takes for this run."""
        return self.data_source or self.dataset

    def settings(self) -> dict[str, Any]:
        """The settings as stored in the ``runs`` table (without the id)."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "init": self.init.label,
            "init_config": self.init.config_json,
            "seed": self.seed,
            "depth": self.depth,
            "width": self.width,
            "activation": self.activation,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "momentum": self.momentum,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "split_seed": self.split_seed,
            "stream_version": self.stream_version,
            "vary": self.vary,
            "init_seed": self.init_seed,
            "order_seed": self.order_seed,
            "data_source": self.data_source,
        }

    @property
    def run_id(self) -> str:
        """16 hex digits of the SHA-256 of the settings.

        Settings at their defaults (``vary="both"``, whose init and order seeds are
        the run seed; a built-in dataset's empty ``data_source``) are left out of
        the hash, so runs keep the ids they had before those settings existed.
        """
        settings = self.settings()
        del settings["init"]
        if self.vary == "both" and self.init_seed == self.order_seed == self.seed:
            for key in ("vary", "init_seed", "order_seed"):
                del settings[key]
        if not self.data_source:
            del settings["data_source"]
        return _digest(settings, 16)


def _check_int(value: object, flag: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        extra = ' or "random"' if flag == "--seed" else ""
        raise TypeError(
            f"Invalid {flag} {value!r}: it must be an integer >= {minimum}{extra}."
        )
    if value < minimum:
        extra = ' or "random"' if flag == "--seed" else ""
        raise ValueError(
            f"Invalid {flag} {value}: it must be an integer >= {minimum}{extra}."
        )
    return int(value)


def _check_choice(value: object, flag: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ValueError(f"Unknown {flag} {value!r}. Accepted: {', '.join(accepted)}.")
    return str(value)


@dataclass(frozen=True)
class StudySpec:
    """A study: dataset x model x initializer entries x seeds, one training recipe.

    Every argument is checked when the spec is built.

    Args:
        dataset: One of :data:`DATASETS`, or the path of a data file (NPZ, CSV or
            IDX; see :mod:`initlab.study.datasets`). Defaults to ``"digits"``.
        model: One of :data:`MODELS`. Defaults to ``"mlp"``.
        inits: Initializer entries (names, config dicts or JSON, initializers, or
            the policies ``keras`` / ``torch``). Defaults to the 15 catalog names.
        seeds: How many seeds each entry is trained with (>= 1). Defaults to 10.
        seed: The first run seed; runs use ``seed, seed + 1, ..., seed + seeds - 1``.
            ``"random"`` draws it from the operating system's entropy (then
            ``seed_drawn`` is True and the drawn seed is recorded with every run).
            Defaults to 0.
        epochs: Passes over the training set (>= 0). Defaults to 20.
        depth: Hidden layers of the MLP (>= 0), convolution blocks of the CNN or
            LSTM layers (>= 1).
        width: Units, filters or LSTM units per layer (>= 1).
        activation: One of :data:`ACTIVATIONS`.
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: Learning rate, finite and > 0.
        momentum: SGD momentum in [0, 1); must be 0 with Adam. Defaults to 0.0.
        batch_size: Examples per step (>= 1).
        split_seed: Seed of the stratified 80/20 train/test split, the same for
            every run. Defaults to 0.
        vary: What the run seeds vary: ``"both"`` the initial weights and the data
            order (the default), ``"init"`` the weights only (the order comes from
            ``fixed_seed``), ``"order"`` the order only (the weights come from
            ``fixed_seed``).
        fixed_seed: The seed of the source ``vary`` holds fixed. Defaults to
            ``seed``.
        label_column: The label column of a CSV dataset. Defaults to ``"label"``.
        labels: The labels file of an IDX dataset. Defaults to the file next to it
            named as MNIST names it.

    ``depth``, ``width``, ``activation``, ``optimizer``, ``lr`` and ``batch_size``
    default to the model's entry in :data:`MODEL_DEFAULTS` (None means that).

    Raises:
        ValueError: a value out of range or an unknown name.
        TypeError: a value of the wrong type.
    """

    dataset: str = "digits"
    model: str = "mlp"
    inits: tuple[Any, ...] = field(default_factory=default_inits)
    seeds: int = 10
    seed: int = 0
    epochs: int = 20
    depth: int | None = None
    width: int | None = None
    activation: str | None = None
    optimizer: str | None = None
    lr: float | None = None
    momentum: float = 0.0
    batch_size: int | None = None
    split_seed: int = 0
    vary: str = "both"
    fixed_seed: int | None = None
    label_column: str = "label"
    labels: str | None = None
    seed_drawn: bool = field(default=False, init=False)
    source: DataSource = field(default=None, init=False, repr=False,  # type: ignore
                               compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalize in place once
        set_(self, "source", resolve_source(self.dataset,
                                            label_column=self.label_column,
                                            labels=self.labels))
        set_(self, "model", _check_choice(self.model, "--model", MODELS))
        for name, default in MODEL_DEFAULTS[self.model].items():
            if getattr(self, name) is None:
                set_(self, name, default)
        set_(self, "seeds", _check_int(self.seeds, "--seeds", 1))
        if self.seed == "random":
            set_(self, "seed", seeds.fresh_seed())
            set_(self, "seed_drawn", True)
        set_(self, "seed", _check_int(self.seed, "--seed", 0))
        if self.seed + self.seeds - 1 > MAX_SEED:
            raise ValueError(
                f"Invalid --seed {self.seed} with --seeds {self.seeds}: the last run "
                f"seed must be at most {MAX_SEED} (2**63 - 1)."
            )
        set_(self, "epochs", _check_int(self.epochs, "--epochs", 0))
        set_(self, "depth", _check_int(self.depth, "--depth", 0))
        if self.model != "mlp" and self.depth < 1:
            raise ValueError(
                f"Invalid --depth {self.depth} with --model {self.model}: it must be "
                "an integer >= 1 (the mlp accepts 0)."
            )
        set_(self, "vary", _check_choice(self.vary, "--vary", VARY))
        if self.fixed_seed is None:
            set_(self, "fixed_seed", self.seed)
        set_(self, "fixed_seed", _check_int(self.fixed_seed, "fixed_seed", 0))
        set_(self, "width", _check_int(self.width, "--width", 1))
        set_(self, "batch_size", _check_int(self.batch_size, "--batch-size", 1))
        set_(self, "split_seed", _check_int(self.split_seed, "--split-seed", 0))
        set_(self, "activation",
             _check_choice(self.activation, "--activation", ACTIVATIONS))
        set_(self, "optimizer",
             _check_choice(self.optimizer, "--optimizer", OPTIMIZERS))
        set_(self, "lr", self._check_float(self.lr, "--lr"))
        set_(self, "momentum", self._check_float(self.momentum, "--momentum"))
        if self.lr <= 0:
            raise ValueError(f"Invalid --lr {self.lr!r}: it must be a positive number.")
        if not 0 <= self.momentum < 1:
            raise ValueError(
                f"Invalid --momentum {self.momentum!r}: it must be in [0, 1)."
            )
        if self.optimizer == "adam" and self.momentum != 0:
            raise ValueError(
                f"Invalid --momentum {self.momentum!r} with --optimizer adam: momentum "
                "applies to sgd only. Accepted with adam: 0."
            )
        set_(self, "inits", self._check_inits(self.inits))

    @staticmethod
    def _check_float(value: object, flag: str) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"Invalid {flag} {value!r}: it must be a real number.")
        if not math.isfinite(value):
            raise ValueError(f"Invalid {flag} {value!r}: it must be finite.")
        return float(value)

    @staticmethod
    def _check_inits(inits: Iterable[Any]) -> tuple[InitEntry, ...]:
        if isinstance(inits, (str, Mapping)):
            inits = [inits]
        given = list(inits)
        entries = [InitEntry.parse(entry) for entry in given]
        if not entries:
            raise ValueError(
                "--inits is empty. Accepted: one or more initializer names or "
                "configs, or the policies keras, torch."
            )
        seen: dict[str, str] = {}
        for raw, entry in zip(given, entries, strict=True):
            text = raw.strip() if isinstance(raw, str) else entry.label
            key = entry.config_json
            if key in seen:
                raise ValueError(
                    f"--inits lists the same initializer twice: {seen[key]!r} and "
                    f"{text!r} (both {entry.label}). Give each entry once."
                )
            seen[key] = text
        return tuple(entries)

    @property
    def run_seeds(self) -> range:
        """``seed, seed + 1, ..., seed + seeds - 1``."""
        return range(self.seed, self.seed + self.seeds)

    def runs(self) -> list[RunSpec]:
        """Every run, seed-major (all entries of the first seed come first), so a
        study stopped early still holds comparable runs of every entry."""
        return [
            RunSpec(
                dataset=self.source.name, model=self.model, init=entry, seed=seed,
                depth=self.depth, width=self.width, activation=self.activation,
                optimizer=self.optimizer, lr=self.lr, momentum=self.momentum,
                batch_size=self.batch_size, epochs=self.epochs,
                split_seed=self.split_seed, vary=self.vary,
                init_seed=self.fixed_seed if self.vary == "order" else seed,
                order_seed=self.fixed_seed if self.vary == "init" else seed,
                data_source=self.source.to_json(),
            )
            for seed in self.run_seeds
            for entry in self.inits
        ]

    @property
    def data_key(self) -> str:
        """What :func:`initlab.study.datasets.load_dataset` takes for this study."""
        return self.source.to_json() or self.source.name

    def settings(self) -> dict[str, Any]:
        """The spec as plain JSON-able values (init entries by label).

        ``vary``, ``fixed_seed`` and a data file's details appear only when they
        are not the defaults, so a spec's hash (and default folder) is what it was
        before they existed.
        """
        settings = {
            "dataset": self.source.path or self.dataset, "model": self.model,
            "inits": [entry.label for entry in self.inits],
            "seeds": self.seeds, "seed": self.seed, "epochs": self.epochs,
            "depth": self.depth, "width": self.width, "activation": self.activation,
            "optimizer": self.optimizer, "lr": self.lr, "momentum": self.momentum,
            "batch_size": self.batch_size, "split_seed": self.split_seed,
        }
        if self.vary != "both":
            settings["vary"] = self.vary
        if self.vary != "both" or self.fixed_seed != self.seed:
            settings["fixed_seed"] = self.fixed_seed
        if self.source.kind == "csv":
            settings["label_column"] = self.source.label_column
        if self.source.kind == "idx":
            settings["labels"] = self.source.labels
        return settings

    @property
    def spec_hash(self) -> str:
        """8 hex digits identifying the spec (entries by config, stream version)."""
        payload = self.settings()
        payload["inits"] = [entry.config for entry in self.inits]
        payload["stream_version"] = seeds.STREAM_VERSION
        if self.source.is_file:
            payload["dataset"] = self.source.to_json()
        return _digest(payload, 8)

    def default_out(self) -> str:
        """``runs/<dataset>-<model>-<spec hash>``: the same spec, the same folder
        (a data file by its name)."""
        return f"runs/{self.source.name}-{self.model}-{self.spec_hash}"
