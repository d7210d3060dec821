"""``recommend(model)``: the initializer of the general rule and of the activation,
per weight matrix, with the variance each gives."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

import initlab
from initlab.diagnostics._activations import (
    activation_name,
    is_layer,
    layer_activation,
    rule_for,
)
from initlab.initializers import compute_fans

__all__ = ["Recommendation", "Recommendations", "recommend"]

#: Keras's default for Dense, convolution and recurrent input kernels.
GENERAL = "glorot_uniform"
#: Keras's default for recurrent kernels, general and refined alike.
RECURRENT = "orthogonal"

_RECURRENT_REASON = (
    "An orthogonal recurrent kernel keeps the norm of the state from one time step "
    "to the next (Saxe et al. 2014); Keras's default."
)


@dataclass
class Recommendation:
    """One weight matrix: what the general rule and the activation-aware rule give.

    Attributes:
        parameter: Qualified parameter name (``fc1.weight``).
        kind: Module type.
        shape: The parameter's shape (PyTorch layout).
        fan_in, fan_out: Fans as Keras counts them for this weight.
        activation: The activation that follows the layer.
        general: The general rule's initializer (``glorot_uniform``; recurrent
            kernels ``orthogonal``), as Keras does whatever the activation.
        general_std: The std the general rule draws with.
        general_factor: ``fan_in * Var(W)`` of the general rule: the factor by
            which the layer multiplies the second moment of its input (Glorot:
            2 fan_in / (fan_in + fan_out), 1 for a square layer).
        refined: The activation-aware initializer (ReLU family: He; SELU: LeCun
            normal; tanh, sigmoid, linear: Glorot).
        refined_std: The std it draws with.
        refined_factor: ``fan_in * Var(W)`` of the refined initializer (2 for He,
            making up for the half a ReLU zeroes; 1 for LeCun; Glorot's as above).
        reason: Why the refined initializer suits the activation.
    """

    parameter: str
    kind: str
    shape: tuple[int, ...]
    fan_in: int
    fan_out: int
    activation: str
    general: str
    general_std: float
    general_factor: float
    refined: str
    refined_std: float
    refined_factor: float
    reason: str


@dataclass
class Recommendations:
    """The rows of :func:`recommend`; prints as a table (plain, or rich)."""

    rows: list[Recommendation] = field(default_factory=list)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> Recommendation:
        return self.rows[index]

    def to_dicts(self) -> list[dict[str, Any]]:
        return [{**asdict(row), "shape": list(row.shape)} for row in self.rows]

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        header = [
            "parameter",
            "shape",
            "fan_in",
            "fan_out",
            "activation",
            "general",
            "std",
            "factor",
            "refined",
            "std",
            "factor",
        ]
        rows = [
            [
                r.parameter,
                "x".join(map(str, r.shape)),
                str(r.fan_in),
                str(r.fan_out),
                r.activation,
                r.general,
                f"{r.general_std:.4g}",
                f"{r.general_factor:.3g}",
                r.refined,
                f"{r.refined_std:.4g}",
                f"{r.refined_factor:.3g}",
            ]
            for r in self.rows
        ]
        return header, rows

    def _reasons(self) -> list[str]:
        seen: dict[str, str] = {}
        for row in self.rows:
            seen.setdefault(row.refined, row.reason)
        return [
            "factor: fan_in * Var(W), the factor by which a layer multiplies the "
            "second moment of its input.",
            *(f"{name}: {reason}" for name, reason in seen.items()),
        ]

    def __str__(self) -> str:
        header, rows = self._cells()
        widths = [
            max(len(line[i]) for line in [header, *rows]) for i in range(len(header))
        ]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*lines, "", *self._reasons()])

    def rich_table(self) -> Any:
        """The table as a ``rich.table.Table``."""
        from rich import box
        from rich.table import Table

        header, rows = self._cells()
        table = Table(box=box.SIMPLE_HEAD, collapse_padding=True)
        for i, column in enumerate(header):
            table.add_column(
                column,
                no_wrap=True,
                justify="right" if i in (2, 3, 6, 7, 9, 10) else "left",
            )
        for cells in rows:
            table.add_row(*cells)
        return table

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        return Group(self.rich_table(), *(Text(line) for line in self._reasons()))


def pair_activations(modules: Iterable[tuple[str, nn.Module]]) -> dict[str, str]:
    """Map each layer's name to the first activation that follows it.

    ``modules`` is a sequence of (name, module) in the order they run; a layer
    followed directly by another layer (or by nothing) gets its own nonlinearity
    (``linear`` for Linear and convolutions).
    """
    result: dict[str, str] = {}
    pending: str | None = None
    for name, module in modules:
        if is_layer(module):
            pending = name
            result.setdefault(name, layer_activation(module))
        elif pending is not None and (act := activation_name(module)) is not None:
            result[pending] = act
            pending = None
    return result


def _traced_order(model: nn.Module, batch: Any) -> list[tuple[str, nn.Module]]:
    from initlab._torchutil import call_model

    order: list[tuple[str, nn.Module]] = []
    handles = []
    for name, module in model.named_modules():
        if is_layer(module) or activation_name(module) is not None:
            handles.append(
                module.register_forward_hook(
                    lambda m, a, o, name=name: order.append((name, m))
                )
            )
    training = {module: module.training for module in model.modules()}
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            model.eval()
            call_model(model, batch)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in training.items():
            module.training = mode
    return order


def _weight_params(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in module.named_parameters(recurse=False) if p.dim() >= 2]


def recommend(model: nn.Module, batch: Any = None) -> Recommendations:
    """Recommend an initializer for every weight matrix of every layer.

    Two rules per weight: the general one (Keras: ``glorot_uniform`` for Dense,
    convolution and recurrent input kernels, ``orthogonal`` for recurrent kernels,
    whatever the activation) and the activation-aware refinement (ReLU family:
    ``he_normal``; SELU: ``lecun_normal``; tanh, sigmoid, linear:
    ``glorot_uniform``), each with the std it draws with and the variance factor
    ``fan_in * Var(W)`` that justifies it. Biases: zeros.

    A layer's activation is the first activation module that runs after it. Without
    ``batch`` the order of registration (``model.named_modules()``) stands for the
    order of execution, as in ``nn.Sequential``; with ``batch``, one forward pass in
    eval mode (no gradient; the model is left as it was) gives the real order.

    Args:
        model: The module.
        batch: An optional input, as :func:`diagnose` takes it.

    Returns:
        :class:`Recommendations`, one row per weight matrix of a Linear,
        convolution or recurrent layer.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"`model` must be a torch.nn.Module. Received: {type(model).__name__}."
        )
    order = (
        list(model.named_modules()) if batch is None else _traced_order(model, batch)
    )
    activations = pair_activations(order)
    result = Recommendations()
    for name, module in model.named_modules():
        if not is_layer(module):
            continue
        activation = activations.get(name, layer_activation(module))
        for pname, param in _weight_params(module):
            qualified = f"{name}.{pname}" if name else pname
            result.rows.append(_row(qualified, module, pname, param, activation))
    return result


def _row(
    qualified: str, module: nn.Module, pname: str, param: torch.Tensor, activation: str
) -> Recommendation:
    shape = tuple(param.shape)
    # PyTorch stores (out, in, *k), and recurrent (gates * H, in) / (gates * H, H):
    # the torch layout gives the fans Keras computes on its transposed kernels.
    fans = compute_fans(shape, layout="torch")
    recurrent = isinstance(module, nn.RNNBase) and pname.startswith("weight_hh")
    rule = rule_for(activation)
    general = RECURRENT if recurrent else GENERAL
    refined = RECURRENT if recurrent else rule.initializer
    general_std = _std(general, shape, fans)
    refined_std = _std(refined, shape, fans)
    return Recommendation(
        parameter=qualified,
        kind=type(module).__name__,
        shape=shape,
        fan_in=fans[0],
        fan_out=fans[1],
        activation=activation,
        general=general,
        general_std=general_std,
        general_factor=fans[0] * general_std**2,
        refined=refined,
        refined_std=refined_std,
        refined_factor=fans[0] * refined_std**2,
        reason=_RECURRENT_REASON if recurrent else rule.reason,
    )


def _std(name: str, shape: tuple[int, ...], fans: tuple[int, int]) -> float:
    stats = initlab.get(name).statistics(shape, "torch", fans)
    return float(stats["expected_std"])
