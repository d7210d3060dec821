"""Which modules count as layers and activations, and the initializer each calls for.

A *layer* is a module with a weight matrix that mixes units: Linear, every
convolution, and the recurrent layers. An *activation* is an element-wise
nonlinearity module; the first one that runs after a layer (before the next layer)
is that layer's activation. Activations called as functions (``F.relu``) are not
seen: a layer followed by one counts as ``linear``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

__all__ = [
    "LAYER_TYPES",
    "RECURRENT_ACTIVATIONS",
    "ActivationRule",
    "activation_name",
    "is_layer",
    "layer_activation",
    "rule_for",
    "saturation_limits",
]

#: Module types whose output is a layer's pre-activation.
LAYER_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.modules.conv._ConvNd,
    nn.RNNBase,
)

# Activation modules by name, in the order they are looked up (subclasses first).
_ACTIVATIONS: tuple[tuple[type[nn.Module], str], ...] = (
    (nn.ReLU6, "relu6"),
    (nn.ReLU, "relu"),
    (nn.LeakyReLU, "leaky_relu"),
    (nn.PReLU, "prelu"),
    (nn.RReLU, "rrelu"),
    (nn.ELU, "elu"),
    (nn.CELU, "celu"),
    (nn.GELU, "gelu"),
    (nn.SiLU, "silu"),
    (nn.Mish, "mish"),
    (nn.Hardswish, "hardswish"),
    (nn.Softplus, "softplus"),
    (nn.SELU, "selu"),
    (nn.Tanh, "tanh"),
    (nn.Hardtanh, "hardtanh"),
    (nn.Softsign, "softsign"),
    (nn.Sigmoid, "sigmoid"),
    (nn.Hardsigmoid, "hardsigmoid"),
)

#: The built-in nonlinearities of recurrent layers (LSTM, GRU, tanh RNN).
RECURRENT_ACTIVATIONS = ("lstm", "gru", "rnn_tanh")
_RELU_FAMILY = (
    "relu",
    "relu6",
    "leaky_relu",
    "prelu",
    "rrelu",
    "elu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "hardswish",
    "softplus",
    "rnn_relu",
)

# Saturating activations: (lower limit, upper limit) of their output.
_LIMITS = {
    "tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
    "sigmoid": (0.0, 1.0),
    "hardsigmoid": (0.0, 1.0),
    # A recurrent layer's output h = o * tanh(c) (LSTM) or tanh(...) lies in (-1, 1).
    "lstm": (-1.0, 1.0),
    "gru": (-1.0, 1.0),
    "rnn_tanh": (-1.0, 1.0),
}


def is_layer(module: nn.Module) -> bool:
    """Whether ``module`` is a layer: Linear, a convolution or a recurrent layer."""
    return isinstance(module, LAYER_TYPES)


def activation_name(module: nn.Module) -> str | None:
    """The snake-case name of an activation module, or None for other modules."""
    for kind, name in _ACTIVATIONS:
        if isinstance(module, kind):
            return name
    return None


def layer_activation(module: nn.Module) -> str:
    """The nonlinearity built into a layer: ``lstm``, ``gru``, ``rnn_tanh``,
    ``rnn_relu``, or ``linear`` for Linear and convolutions."""
    if isinstance(module, nn.RNNBase):
        mode = module.mode.lower()
        return {"rnn_tanh": "rnn_tanh", "rnn_relu": "rnn_relu"}.get(mode, mode)
    return "linear"


def saturation_limits(
    name: str, module: nn.Module | None = None
) -> tuple[float, float] | None:
    """The output limits of a saturating activation, or None for the others."""
    if name == "hardtanh" and isinstance(module, nn.Hardtanh):
        return (float(module.min_val), float(module.max_val))
    return _LIMITS.get(name)


@dataclass(frozen=True)
class ActivationRule:
    """The initializer an activation calls for and the variance it keeps.

    Attributes:
        family: ``"relu"`` (He), ``"selu"`` (LeCun) or ``"glorot"``.
        initializer: The catalog name of the refined initializer.
        reason: One sentence that justifies the choice.
    """

    family: str
    initializer: str
    reason: str


_HE = ActivationRule(
    "relu",
    "he_normal",
    "ReLU-like units zero about half of their input, so Var(W) = 2 / fan_in keeps "
    "the second moment from layer to layer (He et al. 2015).",
)
_LECUN = ActivationRule(
    "selu",
    "lecun_normal",
    "SELU self-normalizes to mean 0 and variance 1 when Var(W) = 1 / fan_in "
    "(Klambauer et al. 2017).",
)
_GLOROT = ActivationRule(
    "glorot",
    "glorot_uniform",
    "Near zero tanh, sigmoid and linear units pass the signal unchanged up to a "
    "constant, so Var(W) = 2 / (fan_in + fan_out) balances the forward and backward "
    "variance (Glorot and Bengio 2010).",
)
_RECURRENT = ActivationRule(
    "glorot",
    "glorot_uniform",
    "Recurrent layers gate with sigmoid and tanh: Glorot on the input kernel, as "
    "Keras does, and an orthogonal recurrent kernel keeps the state's norm over "
    "time steps (Saxe et al. 2014).",
)


def rule_for(activation: str) -> ActivationRule:
    """The initializer rule of ``activation`` (a name from this module)."""
    if activation in RECURRENT_ACTIVATIONS:
        return _RECURRENT
    if activation == "selu":
        return _LECUN
    if activation in _RELU_FAMILY:
        return _HE
    return _GLOROT
