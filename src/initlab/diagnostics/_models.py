"""Built-in models to diagnose, their input batches, and user factories.

Every built-in model is a stack of ``depth`` identical layers of ``width`` units,
so a layer's statistics depend on the initializer and the activation alone:

- ``mlp``: ``fc1, act1, ..., fcN, actN`` with Linear(width, width); input
  ``(batch, width)``.
- ``cnn``: ``conv1, act1, ...`` with Conv2d(width, width, 3, padding=1); input
  ``(batch, width, 8, 8)``.
- ``lstm``: ``lstm1, ..., lstmN`` with LSTM(width, width, batch_first=True);
  input ``(batch, 8, width)``.

Biases are zero and inputs standard normal, drawn from the stream of
``(seed, "diagnose/batch")``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

import initlab
from initlab import seeds
from initlab._torchutil import ACTIVATION_MODULES

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_SIZES",
    "MODELS",
    "apply_init",
    "build_case",
    "build_model",
    "example_batch",
    "load_factory",
    "resolve_init",
    "split_inits",
]

MODELS = ("mlp", "cnn", "lstm")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "selu", "gelu", "linear")
#: (depth, width) by model: a 50-layer MLP of width 256 is the network of the
#: textbook experiments; the CNN and LSTM are smaller so one pass takes ~1 s on a CPU.
DEFAULT_SIZES = {"mlp": (50, 256), "cnn": (20, 32), "lstm": (10, 64)}
#: Side of the CNN's square input images, and time steps of the LSTM's sequences.
IMAGE_SIDE = 8
SEQUENCE_LENGTH = 8
#: Entries that are not initializers: whole-model policies and data-dependent LSUV.
POLICY_ENTRIES = ("keras", "torch", "lsuv")

_ACTIVATION_MODULES = ACTIVATION_MODULES


class LSTMStack(nn.Module):
    """``depth`` single-layer LSTMs in a row (so each one is its own layer)."""

    def __init__(self, depth: int, width: int):
        super().__init__()
        self.depth = depth
        for index in range(1, depth + 1):
            self.add_module(f"lstm{index}", nn.LSTM(width, width, batch_first=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index in range(1, self.depth + 1):
            x, _ = getattr(self, f"lstm{index}")(x)
        return x


def _check_size(value: int | None, default: int, flag: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{flag}` must be a positive integer. Received: {flag}={value!r}."
        )
    return value


def _sizes(kind: str, depth: int | None, width: int | None) -> tuple[int, int]:
    if kind not in MODELS:
        raise ValueError(f"Unknown model {kind!r}. Accepted: {', '.join(MODELS)}.")
    default_depth, default_width = DEFAULT_SIZES[kind]
    return (
        _check_size(depth, default_depth, "depth"),
        _check_size(width, default_width, "width"),
    )


def build_model(
    kind: str = "mlp",
    depth: int | None = None,
    width: int | None = None,
    activation: str | None = None,
) -> nn.Module:
    """Build a built-in model (its weights hold PyTorch's defaults until initialized).

    The global torch random state is left as it was.

    Args:
        kind: ``"mlp"``, ``"cnn"`` or ``"lstm"``. Defaults to ``"mlp"``.
        depth: Layers. Defaults to :data:`DEFAULT_SIZES` of the model.
        width: Units (features, channels, hidden units) per layer. Defaults to
            :data:`DEFAULT_SIZES` of the model.
        activation: One of :data:`ACTIVATIONS` for ``mlp`` and ``cnn`` (defaults
            to ``"relu"``); must be None for ``lstm``, whose gates are built in.

    Raises:
        ValueError: an unknown model or activation, or a size below 1.
    """
    depth, width = _sizes(kind, depth, width)
    if kind == "lstm":
        if activation is not None:
            raise ValueError(
                f"The lstm model has its own gates; activation={activation!r} does not "
                "apply to it. Accepted: None."
            )
        with torch.random.fork_rng(devices=[]):
            return LSTMStack(depth, width)
    activation = "relu" if activation is None else activation
    if activation not in _ACTIVATION_MODULES:
        raise ValueError(
            f"Unknown activation {activation!r}. Accepted: {', '.join(ACTIVATIONS)}."
        )
    prefix = "fc" if kind == "mlp" else "conv"
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    with torch.random.fork_rng(devices=[]):
        for index in range(1, depth + 1):
            if kind == "mlp":
                layers[f"{prefix}{index}"] = nn.Linear(width, width)
            else:
                layers[f"{prefix}{index}"] = nn.Conv2d(width, width, 3, padding=1)
            layers[f"act{index}"] = _ACTIVATION_MODULES[activation]()
    return nn.Sequential(layers)


def example_batch(
    kind: str = "mlp", width: int | None = None, batch_size: int = 512, seed: int = 0
) -> torch.Tensor:
    """Standard-normal float32 inputs for a built-in model, from the stream of
    ``(seed, "diagnose/batch")``."""
    _, width = _sizes(kind, None, width)
    batch_size = _check_size(batch_size, 512, "batch_size")
    shape = {
        "mlp": (batch_size, width),
        "cnn": (batch_size, width, IMAGE_SIDE, IMAGE_SIDE),
        "lstm": (batch_size, SEQUENCE_LENGTH, width),
    }[kind]
    rng = seeds.stream(seeds.check_seed(seed), "diagnose/batch")
    return torch.from_numpy(rng.standard_normal(shape, dtype="float32"))


def resolve_init(entry: Any) -> tuple[str, Any]:
    """A label and the value to initialize with, from an ``--init`` entry.

    Args:
        entry: A policy name (``keras``, ``torch``), ``lsuv``, an initializer name or
            alias, a Keras-style config (dict or JSON text), or an initializer.

    Returns:
        ``(label, value)``: the label is the policy name or the initializer's
        canonical name; the value is the policy name or the initializer.

    Raises:
        ValueError: an unknown name or a malformed config.
    """
    if isinstance(entry, str):
        text = entry.strip()
        if text in POLICY_ENTRIES:
            return text, text
        if text.startswith("{"):
            try:
                entry = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"Invalid initializer config JSON {text!r}: {exc.msg}."
                ) from None
        else:
            entry = text
    try:
        init = (
            initlab.deserialize(entry)
            if isinstance(entry, Mapping)
            else initlab.get(entry)
        )
    except ValueError as exc:
        raise ValueError(
            f"{exc} The entries {', '.join(POLICY_ENTRIES)} are accepted too."
        ) from None
    if init is None:
        raise ValueError("Invalid init None: name an initializer, a policy or lsuv.")
    return initlab.canonical_name(init), init


def split_inits(text: str) -> list[str]:
    """Split ``a,b,{"class_name": ..., "config": {...}}`` at the top-level commas."""
    entries, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 0:
            entries.append(text[start:index])
            start = index + 1
    entries.append(text[start:])
    entries = [entry.strip() for entry in entries]
    if depth != 0 or not all(entries):
        raise ValueError(
            f"Malformed list of initializers {text!r}. Accepted: comma-separated names "
            'or JSON configs, e.g. he_normal,glorot_normal,{"class_name": '
            '"RandomNormal", "config": {"stddev": 1.0}}.'
        )
    return entries


def _zero_biases(model: nn.Module) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.rsplit(".", 1)[-1].startswith("bias"):
                param.zero_()


def apply_init(
    model: nn.Module,
    init: Any,
    seed: int = 0,
    batch: Any = None,
    zero_biases: bool = False,
) -> None:
    """Initialize ``model`` in place with an ``--init`` entry.

    An initializer goes to every weight matrix (kernels, recurrent kernels,
    embeddings) and Keras defaults to the rest (``initlab.torch.initialize`` with
    the initializer as policy); ``keras`` and ``torch`` are those policies;
    ``lsuv`` is the keras policy followed by :func:`initlab.torch.lsuv` on ``batch``.

    Args:
        model: The module.
        init: Anything :func:`resolve_init` accepts.
        seed: The seed of the per-parameter streams. Defaults to 0.
        batch: The input LSUV measures on (needed for ``lsuv`` only).
        zero_biases: Set every bias to zero (before LSUV). Defaults to False.
    """
    # Imported here: initlab.torch re-exports this package, so importing it at the
    # top would make the two packages import each other.
    from initlab.torch import initialize, lsuv

    _, value = resolve_init(init)
    if value == "lsuv":
        if batch is None:
            raise ValueError("init='lsuv' measures on data: pass `batch`.")
        initialize(model, "keras", seed=seed)
        if zero_biases:
            _zero_biases(model)
        lsuv(model, batch, seed=seed)
        return
    initialize(model, value, seed=seed)
    if zero_biases:
        _zero_biases(model)


def build_case(
    kind: str = "mlp",
    *,
    depth: int | None = None,
    width: int | None = None,
    activation: str | None = None,
    init: Any = "glorot_uniform",
    seed: int = 0,
    batch_size: int = 512,
) -> tuple[nn.Module, torch.Tensor]:
    """A built-in model initialized with ``init`` (biases zero) and its input batch.

    Args:
        kind, depth, width, activation: As in :func:`build_model`.
        init: As in :func:`apply_init`. Defaults to ``"glorot_uniform"`` (Keras's).
        seed: Seed of the weights and of the batch. Defaults to 0.
        batch_size: Inputs in the batch. Defaults to 512.

    Returns:
        ``(model, batch)``.
    """
    model = build_model(kind, depth, width, activation)
    width = _sizes(kind, depth, width)[1]
    batch = example_batch(kind, width, batch_size, seed)
    apply_init(model, init, seed, batch, zero_biases=True)
    return model, batch


def load_factory(spec: str) -> Callable[[], Any]:
    """The function named by ``package.module:function``.

    The current directory is searched too, as ``python -m`` would.

    Raises:
        ValueError: a malformed spec, or a module or function that cannot be found.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(
            f"Malformed factory {spec!r}. Accepted: package.module:function, a "
            "function that returns (model, batch)."
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"Cannot import factory module {module_name!r}: {exc}."
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"Module {module_name!r} has no attribute {attribute!r}.")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"Factory {spec!r} is not callable.")
    return target


def call_factory(
    factory: Callable[[], Any], name: str = "factory"
) -> tuple[nn.Module, Any]:
    """Call ``factory()`` and check that it returned ``(model, batch)``.

    Raises:
        ValueError: it returned something else.
    """
    result = factory()
    if not (
        isinstance(result, (tuple, list))
        and len(result) == 2
        and isinstance(result[0], nn.Module)
    ):
        raise ValueError(
            f"{name} must return (model, batch) with model a torch.nn.Module. "
            f"Received: {type(result).__name__}."
        )
    return result[0], result[1]
