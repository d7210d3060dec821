"""Depth sweeps: one deep network, several initializers, activation std per layer."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from initlab.diagnostics._diagnose import DiagnosisReport, diagnose
from initlab.diagnostics._models import (
    apply_init,
    build_case,
    call_factory,
    resolve_init,
)

__all__ = ["SweepLine", "depth_sweep"]


@dataclass
class SweepLine:
    """One initializer of a depth sweep.

    Attributes:
        init: The entry's label (canonical initializer name, or policy name).
        report: The full diagnosis.
    """

    init: str
    report: DiagnosisReport

    @property
    def activation_std(self) -> list[float]:
        return [row.act_std for row in self.report.layers]

    def to_dict(self) -> dict[str, Any]:
        safe = self.report.to_dict()
        return {
            "init": self.init,
            "verdict": self.report.verdict,
            "first_bad_layer": self.report.first_bad_layer,
            "suggestion": self.report.suggestion,
            "activation_std": [row["act_std"] for row in safe["layers"]],
            "output_grad_std": [row["output_grad_std"] for row in safe["layers"]],
            "last_over_first": _json_ratio(self.activation_std),
        }


def _json_ratio(stds: list[float]) -> float | str | None:
    if not stds or stds[0] == 0 or not math.isfinite(stds[0]):
        return None
    ratio = stds[-1] / stds[0]
    return ratio if math.isfinite(ratio) else str(ratio)


def depth_sweep(
    inits: Sequence[Any],
    kind: str = "mlp",
    *,
    depth: int | None = None,
    width: int | None = None,
    activation: str | None = None,
    seed: int = 0,
    batch_size: int = 512,
    factory: Callable[[], tuple[nn.Module, Any]] | None = None,
) -> list[SweepLine]:
    """Diagnose one network under each initializer of ``inits``.

    Args:
        inits: Entries as :func:`resolve_init` takes them (names, configs,
            ``keras``, ``torch``, ``lsuv``).
        kind, depth, width, activation: The built-in model (see
            :func:`build_model`), when ``factory`` is None.
        seed: Seed of the weights and of the built-in batch. Defaults to 0.
        batch_size: Inputs of the built-in batch. Defaults to 512.
        factory: A function returning ``(model, batch)``, called once; each entry
            initializes a copy of the model (biases as the entry gives them) and
            every entry is measured on the same batch.

    Returns:
        One :class:`SweepLine` per entry, in order.
    """
    if not inits:
        raise ValueError("`inits` is empty: name at least one initializer.")
    labels = [resolve_init(entry)[0] for entry in inits]  # refuse bad entries first
    built = None if factory is None else call_factory(factory)
    lines = []
    for entry, label in zip(inits, labels, strict=True):
        if factory is None:
            model, batch = build_case(
                kind,
                depth=depth,
                width=width,
                activation=activation,
                init=entry,
                seed=seed,
                batch_size=batch_size,
            )
        else:
            model, batch = copy.deepcopy(built[0]), built[1]
            apply_init(model, entry, seed, batch)
        lines.append(SweepLine(label, diagnose(model, batch)))
    return lines
