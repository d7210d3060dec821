"""Initialize a whole ``nn.Module`` in place, by policy and rules."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab import seeds
from initlab._torchutil import format_table
from initlab.initializers import (
    GlorotUniform,
    Initializer,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    VarianceScaling,
    Zeros,
    canonical_name,
    get,
)
from initlab.torch import _slots
from initlab.torch._slots import Slot, slot_for

__all__ = [
    "UnmatchedRuleWarning",
    "InitReport",
    "ParamRow",
    "UnknownParameterWarning",
    "fingerprint",
    "initialize",
]

POLICIES = ("keras", "torch")
FAN_MODES = ("compatible", "layer")
RECURRENT_MODES = ("fused", "per_gate")
_TYPE_RULE = re.compile(r"^[A-Z][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
# Roles that count as "weight tensors of rank >= 2" for a single-initializer policy.
_WEIGHT_ROLES = (_slots.KERNEL, _slots.RECURRENT, _slots.EMBEDDING)


class UnknownParameterWarning(UserWarning):
    """A parameter of a module initlab does not know was left unchanged."""


class UnmatchedRuleWarning(UserWarning):
    """A policy rule matched no parameter (a typo, or a glob that needs a prefix)."""


@dataclass
class ParamRow:
    """One parameter of an initialization report."""

    name: str
    shape: tuple[int, ...]
    initializer: str
    fan_in: int | None
    fan_out: int | None
    expected_std: float | None
    sampled_std: float | None
    note: str = ""


@dataclass
class InitReport:
    """What :func:`initialize` did, one row per parameter; prints as a table."""

    policy: str
    seed: int
    rows: list[ParamRow] = field(default_factory=list)
    stream_version: int = seeds.STREAM_VERSION

    @property
    def unknown(self) -> list[str]:
        """Names of the parameters left unchanged because their kind is unknown."""
        return [row.name for row in self.rows if row.initializer == "unknown"]

    def to_dicts(self) -> list[dict[str, Any]]:
        return [asdict(row) for row in self.rows]

    def __str__(self) -> str:
        header = (
            "name",
            "shape",
            "initializer",
            "fan_in",
            "fan_out",
            "expected_std",
            "sampled_std",
            "note",
        )
        rows = []
        for row in self.rows:
            rows.append(
                (
                    row.name,
                    "x".join(map(str, row.shape)) or "()",
                    row.initializer,
                    _text(row.fan_in),
                    _text(row.fan_out),
                    _text(row.expected_std),
                    _text(row.sampled_std),
                    row.note,
                )
            )
        rendered = format_table(header, rows)
        title = (
            f"initlab.initialize: policy={self.policy} seed={self.seed} "
            f"stream_version={self.stream_version}"
        )
        return "\n".join([title, *rendered])


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# ------------------------------------------------------------------------- policies


def _keras_default(slot: Slot) -> Initializer | None:
    return {
        _slots.KERNEL: GlorotUniform(),
        _slots.RECURRENT: Orthogonal(),
        _slots.BIAS: Zeros(),
        _slots.EMBEDDING: RandomUniform(-0.05, 0.05),
        _slots.NORM_WEIGHT: Ones(),
        _slots.NORM_BIAS: Zeros(),
    }.get(slot.role)


def _torch_default(slot: Slot, module: nn.Module) -> Initializer | None:
    if slot.torch_init is not None:
        return slot.torch_init  # type: ignore[return-value]
    if slot.role == _slots.NORM_WEIGHT:
        return Ones()
    if slot.role == _slots.NORM_BIAS:
        return Zeros()
    if slot.role == _slots.EMBEDDING:
        return RandomNormal(0.0, 1.0)
    if isinstance(module, nn.RNNBase):
        return RandomUniform(-slot.torch_bound, slot.torch_bound)  # type: ignore[operator]
    if slot.role == _slots.KERNEL and slot.torch_bound is not None:
        # kaiming_uniform_(a=sqrt(5)): gain^2 = 2 / (1 + 5), so the bound is
        # sqrt(3 * (1/3) / fan_in) = 1 / sqrt(fan_in).
        return VarianceScaling(1.0 / 3.0, "fan_in", "uniform")
    if slot.role == _slots.BIAS:
        if (
            type(module).__name__ == "NonDynamicallyQuantizableLinear"
            or slot.torch_bound is None
        ):
            return Zeros()  # MultiheadAttention zeroes out_proj.bias; fan_in 0 too
        return RandomUniform(-slot.torch_bound, slot.torch_bound)
    if slot.role == _slots.KERNEL:
        return Zeros()  # a zero-input layer (fan_in 0) has nothing to draw
    return None


@dataclass
class _Choice:
    init: Initializer | None
    source: str  # "keras", "torch", "policy" or "rule <key>"
    unit_forget_bias: bool = False
    torch_fans: bool = False  # PyTorch's own fans (its default init was chosen)
    rule: str | None = None  # the rule key that chose it


def _check_policy(policy: object) -> tuple[str, dict[str, Any], Initializer | None]:
    """Split ``policy`` into (base policy name, rules, single initializer)."""
    if isinstance(policy, str) and policy in POLICIES:
        return policy, {}, None
    if isinstance(policy, Mapping):
        rules = dict(policy)
        base = rules.pop("base", "keras")
        if base not in POLICIES:
            raise ValueError(
                f"Invalid 'base' in policy rules: {base!r}. Accepted: keras, torch."
            )
        for key, value in rules.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"Policy rule keys must be strings. Received: {key!r}."
                )
            if not (isinstance(value, str) and value in POLICIES):
                try:
                    rules[key] = get(value)
                except (ValueError, TypeError) as exc:  # name the rule, keep the type
                    raise type(exc)(f"Invalid policy rule {key!r}: {exc}") from None
        return base, rules, None
    try:
        single = get(policy)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"Invalid policy {policy!r}: {exc} Accepted: 'keras', 'torch', a dict of "
            "rules, or an initializer (name, config or instance) for every kernel."
        ) from None
    if single is None:
        raise ValueError(
            "Invalid policy None. Accepted: 'keras', 'torch', a dict of "
            "rules, or an initializer."
        )
    return "keras", {}, single


def _type_names(module: nn.Module) -> set[str]:
    return {cls.__name__ for cls in type(module).__mro__}


def _choose(
    base: str,
    rules: dict[str, Any],
    single: Initializer | None,
    qualified: str,
    module: nn.Module,
    pname: str,
    slot: Slot,
) -> _Choice:
    globs = [
        key
        for key in rules
        if not _TYPE_RULE.match(key) and fnmatch.fnmatchcase(qualified, key)
    ]
    if globs:
        key = max(globs, key=len)
        return _from_rule(rules[key], f"rule {key!r}", slot, module, rule=key)
    types = _type_names(module)
    for key, value in rules.items():
        if _TYPE_RULE.match(key):
            type_name, param = key.split(".")
            if type_name in types and param in (pname, slot.family):
                return _from_rule(value, f"rule {key!r}", slot, module, rule=key)
    if single is not None and slot.role in _WEIGHT_ROLES:
        return _Choice(single, "policy")
    return _from_rule(base, base, slot, module)


def _from_rule(
    value: Any, source: str, slot: Slot, module: nn.Module, rule: str | None = None
) -> _Choice:
    if value == "keras":
        return _Choice(
            _keras_default(slot),
            source,
            unit_forget_bias=slot.forget_slice is not None,
            rule=rule,
        )
    if value == "torch":
        return _Choice(_torch_default(slot, module), source, torch_fans=True, rule=rule)
    return _Choice(value, source, rule=rule)


# ----------------------------------------------------------------------- initialize


def _draw_dtype(param: torch.Tensor) -> str:
    if param.dtype == torch.float64:
        return "float64"
    if param.dtype in (torch.float32, torch.float16, torch.bfloat16):
        return "float32"  # half precision receives the float32 draw cast by torch
    raise TypeError(
        f"Cannot initialize a parameter of dtype {param.dtype}. Accepted: "
        "float16, bfloat16, float32, float64."
    )


def _fans_for(
    part: _slots.Part, choice: _Choice, slot: Slot, fans: str
) -> tuple[int, int] | None:
    if choice.torch_fans:
        return slot.torch_fans or part.compatible_fans
    if fans == "layer":
        return part.layer_fans or part.compatible_fans
    return part.compatible_fans


def initialize(
    model: nn.Module,
    policy: Any = "keras",
    seed: int = 0,
    fans: str = "compatible",
    recurrent: str = "fused",
    prefix: str = "",
    device: Any = None,
    stream_version: int = seeds.STREAM_VERSION,
) -> InitReport:
    """Initialize every parameter of ``model`` in place.

    Each parameter draws from the stream of (seed, qualified name), in the Keras
    layout of the weight it corresponds to (a Linear weight is the transpose of the
    Dense kernel ``init((in, out), name=qualified_name)`` returns). An initializer
    with its own int seed uses that seed instead, still keyed by the name.

    Args:
        model: The module to initialize.
        policy: ``"keras"`` (Keras layer defaults), ``"torch"`` (PyTorch's own
            defaults, drawn through initlab's streams), a dict of rules (keys are
            globs on qualified names or ``Type.param``; values anything
            :func:`initlab.get` accepts, or a policy name; a ``"base"`` entry names
            the policy for everything unmatched, default ``"keras"``), or one
            initializer applied to every kernel, recurrent kernel and embedding
            (Keras defaults elsewhere). Defaults to ``"keras"``.
        seed: A non-negative integer. Defaults to 0.
        fans: ``"compatible"`` (each framework's own fans, quirks included) or
            ``"layer"`` (the connections a unit really has). Defaults to
            ``"compatible"``.
        recurrent: ``"fused"`` (one orthogonal (H, gates * H) matrix, as Keras) or
            ``"per_gate"`` (each H x H gate block on its own). Defaults to
            ``"fused"``.
        prefix: Prepended to every parameter name (re-initialize ``model.head``
            with ``prefix="head."`` to get what the whole-model call gave it).
        device: Where a model built on the ``meta`` device is materialized (once,
            with ``to_empty``) before it is initialized. Defaults to None: "cpu"
            for a meta model; other models stay where they are.
        stream_version: The stream algorithm, to repeat an initialization made by
            an older initlab. Defaults to the current ``initlab.STREAM_VERSION``.

    Returns:
        An :class:`InitReport`, one row per parameter.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"`model` must be a torch.nn.Module. Received: {type(model).__name__}."
        )
    seed = seeds.check_seed(seed)
    if fans not in FAN_MODES:
        raise ValueError(f"Invalid `fans`: {fans!r}. Accepted: {', '.join(FAN_MODES)}.")
    if recurrent not in RECURRENT_MODES:
        raise ValueError(
            f"Invalid `recurrent`: {recurrent!r}. "
            f"Accepted: {', '.join(RECURRENT_MODES)}."
        )
    if not isinstance(prefix, str):
        raise TypeError(f"`prefix` must be a string. Received: {prefix!r}.")
    seeds.check_version(stream_version)
    base, rules, single = _check_policy(policy)
    if any(p.is_meta for p in model.parameters()):
        _materialize(model, "cpu" if device is None else device)
    elif device is not None:
        model.to(device)
    label = (
        base
        if single is None and not rules
        else (canonical_name(single) if single is not None else f"rules(base={base})")
    )
    report = InitReport(policy=label, seed=seed, stream_version=stream_version)

    seen: set[int] = set()
    used: set[str] = set()
    for module_name, module in model.named_modules():
        for pname, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue  # tied: initialized once, under its first name
            seen.add(id(param))
            qualified = prefix + (f"{module_name}.{pname}" if module_name else pname)
            slot = slot_for(module, pname, param, recurrent)
            choice = _choose(base, rules, single, qualified, module, pname, slot)
            if choice.rule is not None:
                used.add(choice.rule)
            report.rows.append(
                _apply(
                    module, param, qualified, slot, choice, seed, fans, stream_version
                )
            )
    unused = [key for key in rules if key not in used]
    if unused:
        warnings.warn(
            f"Policy rules {unused} matched no parameter of {type(model).__name__}; "
            "globs match qualified names such as "
            f"{[row.name for row in report.rows[:3]]}.",
            UnmatchedRuleWarning,
            stacklevel=2,
        )
    return report


def _apply(
    module: nn.Module,
    param: torch.Tensor,
    qualified: str,
    slot: Slot,
    choice: _Choice,
    seed: int,
    fans: str,
    stream_version: int = seeds.STREAM_VERSION,
) -> ParamRow:
    shape = tuple(param.shape)
    init = choice.init
    if init is None:
        warnings.warn(
            f"initlab does not know parameter {qualified!r} of "
            f"{type(module).__name__} and left it unchanged; give it a rule, e.g. "
            f"{{'{qualified}': 'glorot_uniform'}}.",
            UnknownParameterWarning,
            stacklevel=3,
        )
        return ParamRow(
            qualified, shape, "unknown", None, None, None, None, "left unchanged"
        )
    if slot.role == _slots.UNKNOWN:
        # A rule names a parameter of an unknown module: draw it in its own layout.
        slot = Slot(
            slot.role, slot.family, [_slots.Part("", shape)], lambda arrays: arrays[0]
        )
        layout = "torch"
    else:
        layout = "keras"
    dtype = _draw_dtype(param)
    target = _in_place_target(param, slot, dtype)
    arrays, stats = [], None
    for part in slot.parts:
        part_fans = _fans_for(part, choice, slot, fans)
        try:
            arrays.append(
                init.sample(
                    part.shape,
                    dtype,
                    name=qualified + part.suffix,
                    seed=seed,
                    layout=layout,
                    fans=part_fans,
                    stream_version=stream_version,
                    out=target,
                )
            )
        except (ValueError, TypeError) as exc:
            raise type(exc)(
                f"Cannot initialize {qualified!r} of {type(module).__name__} "
                f"(drawn as {part.shape} in the {layout} layout) with "
                f"{canonical_name(init)}: {exc}"
            ) from exc
        if stats is None:
            stats = init.statistics(part.shape, layout, part_fans)
    values = slot.assemble(arrays)  # may be a transposed view: copy_ reads strides
    note = "; ".join(slot.notes)
    in_place = target is not None
    if choice.unit_forget_bias:
        values = values if in_place else values.copy()
        values[slot.forget_slice] = 1.0
        note = "unit forget bias: forget-gate slice of bias_ih + bias_hh is 1"
    if (
        slot.role == _slots.EMBEDDING
        and isinstance(module, nn.Embedding)
        and module.padding_idx is not None
    ):
        # The padding row never gets a gradient: whatever it starts with, it keeps.
        # PyTorch zeroes it, and so does every policy here.
        values = values if in_place else values.copy()
        values[module.padding_idx] = 0.0
        note = f"padding_idx row {module.padding_idx} zeroed"
    if not in_place:
        _write(param, values.reshape(shape))
    # NumPy's std of the parameter's own (contiguous) memory: faster than torch's.
    written = target if target is not None else values
    if param.device.type == "cpu" and param.dtype in (torch.float32, torch.float64):
        written = param.detach().numpy()
    sampled = float(np.std(written)) if written.size > 1 else None
    name = canonical_name(init)
    if choice.source.startswith("rule"):
        name = f"{name} ({choice.source})"
    assert stats is not None
    return ParamRow(
        qualified,
        shape,
        name,
        stats["fan_in"],
        stats["fan_out"],
        stats["expected_std"],
        sampled,
        note,
    )


def _in_place_target(param: torch.Tensor, slot: Slot, dtype: str) -> np.ndarray | None:
    """The parameter's own memory as a NumPy array, where values can go straight in."""
    if (
        (slot.same_layout or slot.transposed)
        and param.device.type == "cpu"
        and str(param.dtype) == f"torch.{dtype}"
        and param.is_contiguous()
        and param.numel() > 0
    ):
        memory = param.detach().numpy()
        return memory.T if slot.transposed else memory
    return None


def _write(param: torch.Tensor, values: np.ndarray) -> None:
    """Copy host values into ``param``; through pinned memory for a GPU."""
    source = torch.from_numpy(values)
    with torch.no_grad():
        if param.device.type == "cpu":
            param.copy_(source)  # casts to float16/bfloat16 as .to(dtype) does
        else:
            staged = (
                source.to(param.dtype).pin_memory()
                if torch.cuda.is_available()
                else source.to(param.dtype)
            )
            param.copy_(staged, non_blocking=False)


def _materialize(model: nn.Module, device: Any) -> None:
    """Give a model built on the meta device real (uninitialized) storage once."""
    model.to_empty(device=device)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase):
            module.reset_running_stats()
        elif any(True for _ in module.buffers(recurse=False)):
            names = [name for name, _ in module.named_buffers(recurse=False)]
            warnings.warn(
                f"Buffers {names} of {type(module).__name__} were created on the meta "
                "device and hold uninitialized memory; set them yourself.",
                UnknownParameterWarning,
                stacklevel=3,
            )


def fingerprint(model: nn.Module, length: int = 16) -> str:
    """A short, stable hash of every parameter, in name order.

    The SHA-256 of each parameter's name, dtype, shape and bytes (CPU, C order),
    sorted by name; the first ``length`` hex digits. Equal fingerprints mean the
    same starting point, bit for bit.
    """
    digest = hashlib.sha256()
    params = dict(model.named_parameters())
    for name in sorted(params):
        tensor = params[name].detach().to("cpu").contiguous().reshape(-1)
        digest.update(name.encode())
        digest.update(f"|{tensor.dtype}|{tuple(params[name].shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:length]
