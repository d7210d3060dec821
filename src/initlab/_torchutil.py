"""Small helpers shared by the adapter, LSUV, diagnostics and the study's models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

#: The activation names initlab's built-in models accept, and their modules.
ACTIVATION_MODULES: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "linear": nn.Identity,
}


def call_model(model: nn.Module, batch: Any) -> Any:
    """``model(batch)``, unpacking a tuple or list as arguments, a dict as keywords."""
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    if isinstance(batch, dict):
        return model(**batch)
    return model(batch)


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Plain-text table lines: left-aligned columns two spaces apart, a rule under
    the header."""
    lines = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]
    rendered.insert(1, "  ".join("-" * w for w in widths))
    return rendered
