"""Models of a study, built without touching the global torch RNG.

Only ``mlp`` for now: ``depth`` hidden Linear layers of ``width`` units, each
followed by the activation, then a Linear output layer; no dropout, no
normalization. Children are named (``hidden1``, ``act1``, ..., ``output``), so a
parameter's name, and with it its initialization stream, does not depend on the
position of the activation modules.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from initlab.study.spec import ACTIVATIONS, MODELS

__all__ = ["build_model"]

_ACTIVATION_MODULES = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "linear": nn.Identity,
}
assert tuple(_ACTIVATION_MODULES) == ACTIVATIONS


def build_model(
    name: str,
    n_features: int,
    n_classes: int,
    *,
    depth: int = 2,
    width: int = 64,
    activation: str = "relu",
) -> nn.Module:
    """Build model ``name`` in float32.

    The parameters hold PyTorch's default initialization until the study
    overwrites every one of them with ``initlab.torch.initialize``; they are drawn
    inside ``torch.random.fork_rng``, so building a model leaves the global torch
    RNG as it was.

    Args:
        name: One of ``MODELS``.
        n_features: Inputs per example.
        n_classes: Outputs (logits) per example.
        depth: Hidden layers (>= 0; 0 gives a linear classifier). Defaults to 2.
        width: Units per hidden layer. Defaults to 64.
        activation: One of ``ACTIVATIONS``. Defaults to ``"relu"``.

    Raises:
        ValueError: an unknown model or activation.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Accepted: {', '.join(MODELS)}.")
    if activation not in _ACTIVATION_MODULES:
        raise ValueError(
            f"Unknown activation {activation!r}. Accepted: {', '.join(ACTIVATIONS)}."
        )
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    with torch.random.fork_rng(devices=[]):
        fan_in = n_features
        for index in range(1, depth + 1):
            layers[f"hidden{index}"] = nn.Linear(fan_in, width)
            layers[f"act{index}"] = _ACTIVATION_MODULES[activation]()
            fan_in = width
        layers["output"] = nn.Linear(fan_in, n_classes)
    return nn.Sequential(layers)
