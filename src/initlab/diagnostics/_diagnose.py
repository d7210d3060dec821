"""``diagnose(model, batch)``: one forward and one backward pass, measured per layer."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from initlab import seeds
from initlab._torchutil import call_model
from initlab.diagnostics._activations import (
    RECURRENT_ACTIVATIONS,
    activation_name,
    is_layer,
    layer_activation,
    rule_for,
    saturation_limits,
)

__all__ = ["VERDICTS", "DiagnosisReport", "LayerStats", "diagnose"]

#: Verdicts, in the order they are checked (DESIGN contract 5), then ``healthy``.
VERDICTS = ("symmetric", "exploding", "dead", "vanishing", "saturated", "healthy")

# Thresholds of DESIGN contract 5.
#: Activation std this many times the first layer's (or more): exploding.
EXPLODING_RATIO = 1e4
#: Activation std this fraction of the first layer's (or less): vanishing.
VANISHING_RATIO = 1e-4
#: A layer with this fraction of its units zero for every input (or more): dead.
DEAD_FRACTION = 0.9
#: A layer with this fraction of its tanh/sigmoid values saturated (or more).
SATURATED_FRACTION = 0.5
#: "Saturated" means within 1 % of a limit: |tanh| >= 0.99, sigmoid <= 0.01 or >= 0.99.
SATURATION_MARGIN = 0.01

THRESHOLDS = {
    "exploding_ratio": EXPLODING_RATIO,
    "vanishing_ratio": VANISHING_RATIO,
    "dead_fraction": DEAD_FRACTION,
    "saturated_fraction": SATURATED_FRACTION,
    "saturation_margin": SATURATION_MARGIN,
}


@dataclass
class LayerStats:
    """What one call of one layer did on the batch.

    Statistics are taken over every value of the tensor (batch, units and any
    positions), in float64, with the population std. A tensor holding inf or NaN
    has mean and std NaN (or inf when there is no NaN) and a non-zero
    ``nonfinite_fraction``.

    Attributes:
        index: Position in the forward pass, from 1.
        name: Qualified module name (``name#2`` for a module's second call).
        kind: Module type (``Linear``, ``Conv2d``, ``LSTM``...).
        activation: The activation that follows the layer (``relu``...), the
            layer's own nonlinearity (``lstm``), or ``linear``.
        units: Output units (features, channels, hidden units x directions).
        pre_mean, pre_std: The layer's output, before the activation.
        act_mean, act_std: The activation's output.
        weight_grad_std: Std of the gradient of the layer's weight matrices, or
            None when they do not require grad or received none.
        output_grad_std: Std of the gradient of the layer's output.
        dead_fraction: Fraction of units (features, or channels of a
            convolution) that are zero for every input of the batch.
        saturated_fraction: Fraction of activation values within 1 % of the
            limits of a saturating activation (tanh, sigmoid...); None for the
            others.
        symmetric: Whether the layer has two or more units and all of them have
            identical incoming weights and biases.
        std_ratio: ``act_std`` over the previous layer's ``act_std``.
        nonfinite_fraction: Fraction of inf or NaN among the pre-activation and
            activation values.
    """

    index: int
    name: str
    kind: str
    activation: str
    units: int
    pre_mean: float
    pre_std: float
    act_mean: float
    act_std: float
    weight_grad_std: float | None
    output_grad_std: float | None
    dead_fraction: float
    saturated_fraction: float | None
    symmetric: bool
    std_ratio: float | None
    nonfinite_fraction: float


@dataclass
class DiagnosisReport:
    """The result of :func:`diagnose`; prints as a table (plain, or rich).

    Attributes:
        verdict: One of :data:`VERDICTS`.
        first_bad_layer: Name of the layer where the problem starts (None when
            healthy).
        suggestion: Catalog name of the initializer for the activation in use.
        activation: The activation the suggestion is made for.
        explanation: One or two sentences on the verdict, with the numbers.
        gradient_note: How the gradient std changes from the last layer back to
            the first (reported beside the verdict, never as the verdict).
        layers: One :class:`LayerStats` per layer call, in forward order.
    """

    verdict: str
    first_bad_layer: str | None
    suggestion: str
    activation: str
    explanation: str
    gradient_note: str
    layers: list[LayerStats] = field(default_factory=list)

    def layer(self, name: str) -> LayerStats:
        """The row of layer ``name``."""
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(
            f"No layer named {name!r}. Layers: {[r.name for r in self.layers]}."
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; inf and NaN become the strings "inf", "-inf", "nan"."""
        return {
            "verdict": self.verdict,
            "first_bad_layer": self.first_bad_layer,
            "suggestion": self.suggestion,
            "activation": self.activation,
            "explanation": self.explanation,
            "gradient_note": self.gradient_note,
            "thresholds": dict(THRESHOLDS),
            "layers": [
                {k: _json_safe(v) for k, v in asdict(row).items()}
                for row in self.layers
            ],
        }

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        header = [
            "#",
            "layer",
            "kind",
            "act",
            "pre mean",
            "pre std",
            "act mean",
            "act std",
            "ratio",
            "grad W",
            "grad out",
            "dead",
            "sat",
            "sym",
        ]
        rows = []
        for r in self.layers:
            rows.append(
                [
                    str(r.index),
                    r.name,
                    r.kind,
                    r.activation,
                    _num(r.pre_mean),
                    _num(r.pre_std),
                    _num(r.act_mean),
                    _num(r.act_std),
                    _num(r.std_ratio),
                    _num(r.weight_grad_std),
                    _num(r.output_grad_std),
                    _percent(r.dead_fraction),
                    _percent(r.saturated_fraction),
                    "yes" if r.symmetric else "",
                ]
            )
        return header, rows

    def _summary(self) -> list[str]:
        where = f" from layer {self.first_bad_layer}" if self.first_bad_layer else ""
        return [
            f"verdict: {self.verdict}{where}",
            self.explanation,
            f"suggestion: {self.suggestion} (for {self.activation})",
            f"gradients: {self.gradient_note}",
        ]

    def __str__(self) -> str:
        header, rows = self._cells()
        widths = [
            max(len(line[i]) for line in [header, *rows]) for i in range(len(header))
        ]
        lines = [
            "  ".join(
                c.rjust(w) if i != 1 else c.ljust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
            for line in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*lines, "", *self._summary()])

    def rich_table(self) -> Any:
        """The per-layer table as a ``rich.table.Table``."""
        from rich import box
        from rich.table import Table

        header, rows = self._cells()
        table = Table(box=box.SIMPLE_HEAD, collapse_padding=True)
        for i, column in enumerate(header):
            table.add_column(
                column.replace(" ", "\n"),
                no_wrap=True,
                justify="left" if i in (1, 2, 3) else "right",
            )
        bad = self.first_bad_layer
        for r, cells in zip(self.layers, rows, strict=True):
            table.add_row(*cells, style="bold red" if r.name == bad else None)
        return table

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        style = "green" if self.verdict == "healthy" else "bold red"
        summary = self._summary()
        return Group(
            self.rich_table(),
            Text(summary[0], style=style),
            *(Text(line) for line in summary[1:]),
        )


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


# ----------------------------------------------------------------------- statistics


def _moments(tensor: torch.Tensor) -> tuple[float, float, float]:
    """Mean, population std and non-finite fraction of every value, in float64."""
    values = tensor.detach().to(torch.float64).reshape(-1)
    if values.numel() == 0:
        return math.nan, math.nan, 0.0
    std, mean = (float(v) for v in torch.std_mean(values, correction=0))
    if math.isfinite(std) and math.isfinite(mean):
        return mean, std, 0.0  # an inf or NaN among the values makes them non-finite
    bad = int((~torch.isfinite(values)).sum())
    if bad == 0:
        return mean, std, 0.0  # finite float64 values whose squares overflow
    std = math.nan if bool(torch.isnan(values).any()) else math.inf
    return mean, std, bad / values.numel()


def _dead_fraction(tensor: torch.Tensor, unit_axis: int) -> float:
    """Fraction of units that are exactly zero for every input and position."""
    values = tensor.detach()
    if values.dim() == 0 or values.numel() == 0:
        return 0.0
    axis = unit_axis % values.dim()
    per_unit = values.movedim(axis, 0).reshape(values.shape[axis], -1)
    return float((per_unit == 0).all(dim=1).to(torch.float64).mean())


def _saturated_fraction(
    tensor: torch.Tensor, limits: tuple[float, float] | None
) -> float | None:
    if limits is None or tensor.numel() == 0:
        return None
    low, high = limits
    margin = SATURATION_MARGIN * max(abs(low), abs(high))
    values = tensor.detach().to(torch.float64)
    near = (values <= low + margin) | (values >= high - margin)
    return float(near.to(torch.float64).mean())


def _rows_identical(matrix: torch.Tensor) -> bool:
    return bool(torch.equal(matrix, matrix[:1].expand_as(matrix)))


def _is_symmetric(module: nn.Module) -> bool:
    """Two or more units with identical incoming weights and biases."""
    with torch.no_grad():
        if isinstance(module, nn.RNNBase):
            return _rnn_symmetric(module)
        weight = module.weight
        if isinstance(module, nn.modules.conv._ConvNd) and module.transposed:
            weight = weight.transpose(0, 1)  # (in, out/groups, *k): units on axis 1
        units = weight.shape[0]
        if units < 2:
            return False
        parts = [weight.reshape(units, -1)]
        bias = getattr(module, "bias", None)
        if isinstance(bias, torch.Tensor) and bias.numel() == units:
            parts.append(bias.reshape(units, 1))
        return all(_rows_identical(part) for part in parts)


def _rnn_symmetric(module: nn.RNNBase) -> bool:
    hidden = module.hidden_size
    if hidden < 2:
        return False
    gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
    directions = ("", "_reverse") if module.bidirectional else ("",)
    for layer in range(module.num_layers):
        for suffix in directions:
            names = [
                f"{p}_l{layer}{suffix}"
                for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ]
            params = [getattr(module, n) for n in names if hasattr(module, n)]
            # Unit j of gate g owns row g * hidden + j of every matrix and bias.
            if all(_rows_identical_per_gate(p, gates, hidden) for p in params):
                return True
    return False


def _rows_identical_per_gate(param: torch.Tensor, gates: int, hidden: int) -> bool:
    blocks = param.reshape(gates, hidden, -1)
    return all(_rows_identical(block) for block in blocks)


def _units(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, nn.RNNBase):
        return output.shape[-1]
    if isinstance(module, nn.modules.conv._ConvNd):
        return module.out_channels
    return module.out_features


# ------------------------------------------------------------------------ recording


@dataclass
class _Call:
    """One call of a layer, filled in as the passes go."""

    name: str
    module: nn.Module
    activation: str
    units: int
    unit_axis: int
    pre: tuple[float, float, float]
    act: tuple[float, float, float]
    dead: float
    saturated: float | None
    has_activation: bool = False
    output_grad: tuple[float, float, float] | None = None


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output:
        return _first_tensor(output[0])
    return None


class _Recorder:
    """Forward hooks on every layer and activation; tensor hooks for gradients."""

    def __init__(self, model: nn.Module):
        self.calls: list[_Call] = []
        self.seen: Counter[str] = Counter()
        self.handles = []
        for name, module in model.named_modules():
            if is_layer(module):
                self.handles.append(
                    module.register_forward_hook(self._layer_hook(name))
                )
            elif activation_name(module) is not None:
                self.handles.append(module.register_forward_hook(self._activation_hook))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()

    def _layer_hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            tensor = _first_tensor(output)
            if tensor is None or not tensor.is_floating_point():
                return
            self.seen[name] += 1
            label = name if self.seen[name] == 1 else f"{name}#{self.seen[name]}"
            own = layer_activation(module)
            axis = 1 if isinstance(module, nn.modules.conv._ConvNd) else -1
            moments = _moments(tensor)
            call = _Call(
                name=label,
                module=module,
                activation=own,
                units=_units(module, tensor),
                unit_axis=axis,
                pre=moments,
                act=moments,  # until an activation module follows
                dead=_dead_fraction(tensor, axis),
                saturated=_saturated_fraction(tensor, saturation_limits(own)),
            )
            self.calls.append(call)
            if tensor.requires_grad:
                tensor.register_hook(self._grad_hook(call))

        return hook

    def _activation_hook(self, module: nn.Module, args: Any, output: Any) -> None:
        if not self.calls or self.calls[-1].has_activation:
            return  # not directly after a layer
        tensor = _first_tensor(output)
        if tensor is None or not tensor.is_floating_point():
            return
        call = self.calls[-1]
        name = activation_name(module)
        assert name is not None
        call.has_activation = True
        call.activation = name
        call.act = _moments(tensor)
        call.dead = _dead_fraction(tensor, call.unit_axis)
        call.saturated = _saturated_fraction(tensor, saturation_limits(name, module))

    @staticmethod
    def _grad_hook(call: _Call) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            call.output_grad = _moments(grad)

        return hook


# -------------------------------------------------------------------------- running


def _with_grad_inputs(batch: Any) -> tuple[Any, list[torch.Tensor]]:
    """The batch with floating tensors made leaves that require grad."""
    leaves: list[torch.Tensor] = []

    def convert(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            leaf = value.detach().requires_grad_(True)
            leaves.append(leaf)
            return leaf
        return value

    if isinstance(batch, (tuple, list)):
        return type(batch)(convert(v) for v in batch), leaves
    if isinstance(batch, dict):
        return {k: convert(v) for k, v in batch.items()}, leaves
    return convert(batch), leaves


def _output_tensors(output: Any) -> Iterator[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, (tuple, list)):
        for item in output:
            yield from _output_tensors(item)
    elif isinstance(output, dict):
        for item in output.values():
            yield from _output_tensors(item)


def _probe_loss(output: Any) -> torch.Tensor | None:
    """sum(output * probe) / batch size, probe standard normal from a fixed stream.

    Its gradient with respect to each output value is a standard-normal number over
    the batch size, whatever the scale of the output, so the backward pass measures
    how the network propagates gradients and nothing else.
    """
    loss = None
    for i, tensor in enumerate(_output_tensors(output)):
        if not (tensor.is_floating_point() and tensor.requires_grad):
            continue
        rng = seeds.stream(0, f"diagnose/probe/{i}")
        probe = torch.from_numpy(rng.standard_normal(tuple(tensor.shape)))
        probe = probe.to(device=tensor.device, dtype=tensor.dtype)
        term = (tensor * probe).sum() / (tensor.shape[0] if tensor.dim() else 1)
        loss = term if loss is None else loss + term
    return loss


def _weights(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters(recurse=False) if p.dim() >= 2]


def _backward(
    model: nn.Module, loss: torch.Tensor | None, leaves: list[torch.Tensor]
) -> dict[int, float | None]:
    """Run the backward pass; return the weight-gradient std per module id.

    ``torch.autograd.grad`` returns the gradients instead of accumulating them into
    ``.grad``, so the parameters' gradients stay as they were.
    """
    modules = [m for m in model.modules() if is_layer(m)]
    params: dict[int, torch.Tensor] = {}
    for module in modules:
        params.update((id(p), p) for p in _weights(module) if p.requires_grad)
    inputs = [*params.values(), *leaves]
    if loss is None or not loss.requires_grad or not inputs:
        return {}
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    by_param = dict(zip(params, grads, strict=False))  # leaves follow
    result: dict[int, float | None] = {}
    for module in modules:
        found = [by_param.get(id(p)) for p in _weights(module)]
        found = [g.reshape(-1) for g in found if g is not None]
        result[id(module)] = _moments(torch.cat(found))[1] if found else None
    return result


def _rng_devices(model: nn.Module) -> list[int]:
    return sorted(
        {p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"}
    )


def diagnose(
    model: nn.Module, batch: Any, loss_fn: Callable[[Any], torch.Tensor] | None = None
) -> DiagnosisReport:
    """Measure how the signal travels through ``model`` on one batch.

    Runs one forward and one backward pass with hooks, in the train/eval mode the
    model is in, and reports per layer (Linear, convolution, recurrent) the
    pre-activation and activation statistics, the gradient std of the weights and
    of the output, the dead and saturated fractions and whether the units are
    identical. The model is left exactly as it was: parameters, their ``.grad``,
    buffers (BatchNorm running statistics), train/eval mode, and the global torch
    random state (dropout draws from a forked state seeded with 0). Inf and NaN
    are reported, never raised.

    The verdict (DESIGN contract 5) is the first that applies of: ``symmetric``
    (a layer of 2+ units with identical incoming weights and biases),
    ``exploding`` (non-finite values, or activation std 1e4 times the first
    layer's or more), ``dead`` (a layer with 90 % or more of its units zero for
    every input), ``vanishing`` (activation std 1e-4 of the first layer's or
    less), ``saturated`` (a layer with half or more of its tanh/sigmoid values
    within 1 % of their limits); else ``healthy``.

    Args:
        model: The module to diagnose.
        batch: The input: a tensor (``model(batch)``), a tuple or list
            (``model(*batch)``) or a dict (``model(**batch)``).
        loss_fn: Called with the model's output, returns a scalar tensor to
            back-propagate. Defaults to ``sum(output * probe) / batch_size`` with a
            fixed standard-normal probe, whose gradient does not depend on the
            scale of the output.

    Returns:
        A :class:`DiagnosisReport`.

    Raises:
        TypeError: ``model`` is not a module, or ``loss_fn`` returns no tensor.
        ValueError: no layer ran in the forward pass, or the loss is not a scalar.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"`model` must be a torch.nn.Module. Received: {type(model).__name__}."
        )
    training = {module: module.training for module in model.modules()}
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    recorder = _Recorder(model)
    try:
        with torch.random.fork_rng(devices=_rng_devices(model)), torch.enable_grad():
            torch.default_generator.manual_seed(0)
            inputs, leaves = _with_grad_inputs(batch)
            output = call_model(model, inputs)
            loss = (
                _probe_loss(output) if loss_fn is None else _check_loss(loss_fn(output))
            )
            weight_grads = _backward(model, loss, leaves)
    finally:
        recorder.remove()
        for module, mode in training.items():
            module.training = mode
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
    if not recorder.calls:
        raise ValueError(
            "No Linear, convolution or recurrent layer ran in the forward pass; "
            "diagnose measures those layers' outputs."
        )
    layers = _layer_stats(recorder.calls, weight_grads)
    return _report(layers)


def _check_loss(loss: Any) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            f"`loss_fn` must return a tensor. Received: {type(loss).__name__}."
        )
    if loss.numel() != 1:
        raise ValueError(
            "`loss_fn` must return a scalar tensor. "
            f"Received: shape {tuple(loss.shape)}."
        )
    return loss.reshape(())


def _layer_stats(
    calls: list[_Call], weight_grads: dict[int, float | None]
) -> list[LayerStats]:
    layers: list[LayerStats] = []
    symmetric: dict[int, bool] = {}
    for index, call in enumerate(calls, start=1):
        key = id(call.module)
        if key not in symmetric:
            symmetric[key] = _is_symmetric(call.module)
        previous = layers[-1].act_std if layers else None
        nonfinite = max(call.pre[2], call.act[2])
        layers.append(
            LayerStats(
                index=index,
                name=call.name,
                kind=type(call.module).__name__,
                activation=call.activation,
                units=call.units,
                pre_mean=call.pre[0],
                pre_std=call.pre[1],
                act_mean=call.act[0],
                act_std=call.act[1],
                weight_grad_std=weight_grads.get(key),
                output_grad_std=call.output_grad[1] if call.output_grad else None,
                dead_fraction=call.dead,
                saturated_fraction=call.saturated,
                symmetric=symmetric[key],
                std_ratio=_ratio(call.act[1], previous),
                nonfinite_fraction=nonfinite,
            )
        )
    return layers


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    if not (math.isfinite(value) and math.isfinite(reference)):
        return math.nan if math.isnan(value) or math.isnan(reference) else math.inf
    return value / reference


# ------------------------------------------------------------------------- verdicts


def _verdict(layers: list[LayerStats]) -> tuple[str, LayerStats | None, str]:
    """The verdict, the layer where it starts and an explanation, in contract 5's
    order of precedence."""
    for row in layers:
        if row.symmetric:
            return (
                "symmetric",
                row,
                (
                    f"The {row.units} units of layer {row.name} have identical "
                    "incoming weights and biases: they compute the same value and "
                    "receive the same update, so training can never tell them apart."
                ),
            )
    first = layers[0].act_std
    scale_known = math.isfinite(first) and first > 0
    for row in layers:
        ratio = _ratio(row.act_std, first) if scale_known else None
        if row.nonfinite_fraction > 0:
            return (
                "exploding",
                row,
                (
                    f"Layer {row.name} produces non-finite values "
                    f"({100 * row.nonfinite_fraction:.3g} % inf or NaN): the signal "
                    "overflowed."
                ),
            )
        if ratio is not None and ratio >= EXPLODING_RATIO:
            return (
                "exploding",
                row,
                (
                    f"Activation std grows from {first:.3g} at the first layer to "
                    f"{row.act_std:.3g} at layer {row.name} (x{ratio:.3g}, threshold "
                    f"x{EXPLODING_RATIO:g})."
                ),
            )
    for row in layers:
        if row.dead_fraction >= DEAD_FRACTION:
            return (
                "dead",
                row,
                (
                    f"{100 * row.dead_fraction:.3g} % of the units of layer "
                    f"{row.name} are zero for every input of the batch (threshold "
                    f"{100 * DEAD_FRACTION:g} %): they pass no signal and get no "
                    "gradient."
                ),
            )
    if scale_known:
        for row in layers:
            ratio = _ratio(row.act_std, first)
            if ratio is not None and ratio <= VANISHING_RATIO:
                return (
                    "vanishing",
                    row,
                    (
                        f"Activation std shrinks from {first:.3g} at the first "
                        f"layer to {row.act_std:.3g} at layer {row.name} "
                        f"(x{ratio:.3g}, threshold x{VANISHING_RATIO:g})."
                    ),
                )
    for row in layers:
        if (
            row.saturated_fraction is not None
            and row.saturated_fraction >= SATURATED_FRACTION
        ):
            return (
                "saturated",
                row,
                (
                    f"{100 * row.saturated_fraction:.3g} % of the {row.activation} "
                    f"values of layer {row.name} lie within 1 % of its limits "
                    f"(threshold {100 * SATURATED_FRACTION:g} %): their gradient is "
                    "nearly zero."
                ),
            )
    last = layers[-1]
    ratio = _ratio(last.act_std, first)
    change = f"x{ratio:.3g}" if ratio is not None else "undefined"
    return (
        "healthy",
        None,
        (
            f"Activation std goes from {first:.3g} at the first layer to "
            f"{last.act_std:.3g} at the last ({change}); no layer is symmetric, "
            "dead or saturated."
        ),
    )


def _gradient_note(layers: list[LayerStats]) -> str:
    grads = [row.output_grad_std for row in layers]
    # The backward pass runs from the last layer: report where it first overflowed.
    bad = next(
        (
            row
            for row, g in zip(reversed(layers), reversed(grads), strict=True)
            if g is not None and not math.isfinite(g)
        ),
        None,
    )
    if bad is not None:
        return (
            f"gradients are non-finite from the output of layer {bad.name} back "
            "to the input."
        )
    known = [(row, g) for row, g in zip(layers, grads, strict=True) if g is not None]
    if len(known) < 2:
        return (
            "no gradient reached the layers' outputs."
            if not known
            else "only one layer received a gradient."
        )
    (first_row, first), (last_row, last) = known[0], known[-1]
    if last == 0:
        return f"the gradient at the output of layer {last_row.name} is zero."
    ratio = first / last
    if ratio >= EXPLODING_RATIO:
        trend = "gradients explode toward the input"
    elif ratio <= VANISHING_RATIO:
        trend = "gradients vanish toward the input"
    else:
        trend = "gradient scale is kept"
    return (
        f"output-gradient std goes from {last:.3g} at layer {last_row.name} back "
        f"to {first:.3g} at layer {first_row.name} (x{ratio:.3g}): {trend}."
    )


def _report(layers: list[LayerStats]) -> DiagnosisReport:
    verdict, bad, explanation = _verdict(layers)
    if bad is not None:
        activation = bad.activation
    else:  # the most common activation, the first one on a tie
        counts = Counter(row.activation for row in layers)
        activation = max(counts, key=lambda name: counts[name])
    rule = rule_for(activation)
    if verdict != "healthy":
        explanation += f" Use {rule.initializer}: {rule.reason}"
    if verdict == "vanishing" and activation in RECURRENT_ACTIVATIONS:
        explanation += (
            " A stack of recurrent layers shrinks the signal at every layer (h = o *"
            " tanh(c), with o about 0.5 at initialization): normalization or residual"
            " connections between the layers keep its scale."
        )
    elif verdict in ("exploding", "vanishing"):
        explanation += " Or measure the scale on data: initlab.torch.lsuv."
    return DiagnosisReport(
        verdict=verdict,
        first_bad_layer=bad.name if bad else None,
        suggestion=rule.initializer,
        activation=activation,
        explanation=explanation,
        gradient_note=_gradient_note(layers),
        layers=layers,
    )
