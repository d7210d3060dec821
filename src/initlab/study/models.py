"""Models of a study, built without touching the global torch RNG.

Every child that holds parameters has a name of its own, so a parameter's name, and
with it its initialization stream, never depends on the position of other modules:
adding a layer leaves the names (and initial weights) of the others unchanged.

- ``mlp``: ``depth`` hidden Linear layers of ``width`` units, each followed by the
  activation, then a Linear output layer (``hidden1``, ``act1``, ..., ``output``).
- ``cnn``: a Keras-style convolution stack: ``depth`` blocks of a 3-wide convolution
  with ``width`` filters and "same" padding, the activation and a 2-wide max pooling
  (while the feature map is at least 2 wide), then a dense head: flatten, Linear of
  ``width`` units, the activation, Linear output (``conv1``, ``act1``, ``pool1``, ...,
  ``dense``, ``dense_act``, ``output``). Images use ``Conv2d``, signals ``Conv1d``.
- ``lstm``: an ``nn.LSTM`` of ``depth`` layers and ``width`` units reading the
  example as a sequence (digits: 8 steps of one 8-pixel row; a signal: one value per
  step); its last hidden state goes through a dense head as in the CNN (``lstm``,
  ``dense``, ``dense_act``, ``output``). The cell's own activations are PyTorch's
  (tanh and sigmoid gates, as in Keras).

The input of every model is the flattened example, as the training loop stores it;
the model gives it back its shape.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from initlab._torchutil import ACTIVATION_MODULES
from initlab.study.spec import ACTIVATIONS, MODELS

__all__ = ["SequenceClassifier", "build_model", "check_input"]

_ACTIVATION_MODULES = ACTIVATION_MODULES
assert tuple(_ACTIVATION_MODULES) == ACTIVATIONS


class SequenceClassifier(nn.Module):
    """An LSTM over the steps of an example, then a dense head on its last state.

    Args:
        steps: Time steps per example.
        features: Values per step.
        n_classes: Outputs (logits).
        depth: LSTM layers (>= 1).
        width: LSTM units and dense-head units.
        activation: The dense head's activation.
    """

    def __init__(self, steps: int, features: int, n_classes: int, depth: int,
                 width: int, activation: str):
        super().__init__()
        self.steps, self.features = steps, features
        self.lstm = nn.LSTM(features, width, num_layers=depth, batch_first=True)
        self.dense = nn.Linear(width, width)
        self.dense_act = _ACTIVATION_MODULES[activation]()
        self.output = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence = x.reshape(x.shape[0], self.steps, self.features)
        states, _ = self.lstm(sequence)
        return self.output(self.dense_act(self.dense(states[:, -1])))


def check_input(name: str, shape: Sequence[int], kind: str = "image",
                dataset: str = "") -> None:
    """Check that model ``name`` can read examples of ``shape`` and ``kind``.

    Args:
        name: One of ``MODELS``.
        shape: The shape of one example.
        kind: ``"image"``, ``"signal"`` or ``"table"``.
        dataset: The dataset's name, for the message.

    Raises:
        ValueError: a table for the CNN or the LSTM, or a shape they cannot read.
    """
    shape = tuple(shape)
    what = f"{dataset} is a table" if dataset else "a table"
    if name == "mlp":
        return
    if kind == "table":
        raise ValueError(
            f"The {name} model cannot read a table ({what}: its columns have no "
            "order to convolve or step through); accepted with a table: --model mlp."
        )
    of = f" ({dataset})" if dataset else ""
    if name == "cnn" and not 1 <= len(shape) <= 3:
        raise ValueError(
            f"The cnn model reads examples of shape (length,), (height, width) or "
            f"(channels, height, width); got {shape}{of}."
        )
    if name == "lstm" and not 1 <= len(shape) <= 2:
        raise ValueError(
            f"The lstm model reads examples of shape (steps,) or (steps, features); "
            f"got {shape}{of}."
        )


def _cnn(shape: tuple[int, ...], n_classes: int, depth: int, width: int,
         activation: str) -> nn.Module:
    if len(shape) == 1:
        channels, spatial = 1, shape
    elif len(shape) == 2:
        channels, spatial = 1, shape
    else:
        channels, spatial = shape[0], shape[1:]
    conv, pool = (nn.Conv1d, nn.MaxPool1d) if len(spatial) == 1 else (nn.Conv2d,
                                                                      nn.MaxPool2d)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["reshape"] = nn.Unflatten(1, (channels, *spatial))
    size = list(spatial)
    for index in range(1, depth + 1):
        layers[f"conv{index}"] = conv(channels, width, 3, padding=1)
        layers[f"act{index}"] = _ACTIVATION_MODULES[activation]()
        if min(size) >= 2:
            layers[f"pool{index}"] = pool(2)
            size = [s // 2 for s in size]
        channels = width
    layers["flatten"] = nn.Flatten()
    flat = channels
    for s in size:
        flat *= s
    layers["dense"] = nn.Linear(flat, width)
    layers["dense_act"] = _ACTIVATION_MODULES[activation]()
    layers["output"] = nn.Linear(width, n_classes)
    return nn.Sequential(layers)


def build_model(
    name: str,
    n_features: int,
    n_classes: int,
    *,
    depth: int = 2,
    width: int = 64,
    activation: str = "relu",
    input_shape: Sequence[int] | None = None,
    input_kind: str = "image",
) -> nn.Module:
    """Build model ``name`` in float32.

    The parameters hold PyTorch's default initialization until the study
    overwrites every one of them with ``initlab.torch.initialize``; they are drawn
    inside ``torch.random.fork_rng``, so building a model leaves the global torch
    RNG as it was.

    Args:
        name: One of ``MODELS``.
        n_features: Inputs per example (the flattened example).
        n_classes: Outputs (logits) per example.
        depth: Hidden layers, convolution blocks or LSTM layers (the MLP takes 0, a
            linear classifier; the CNN and the LSTM at least 1). Defaults to 2.
        width: Units, filters or LSTM units per layer. Defaults to 64.
        activation: One of ``ACTIVATIONS``. Defaults to ``"relu"``.
        input_shape: The shape of one example; ``(n_features,)`` when None.
        input_kind: ``"image"``, ``"signal"`` or ``"table"``: the CNN and the LSTM
            refuse tables.

    Raises:
        ValueError: an unknown model or activation, a depth the model cannot
            have, or examples it cannot read.
    """
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}. Accepted: {', '.join(MODELS)}.")
    if activation not in _ACTIVATION_MODULES:
        raise ValueError(
            f"Unknown activation {activation!r}. Accepted: {', '.join(ACTIVATIONS)}."
        )
    shape = tuple(input_shape) if input_shape is not None else (n_features,)
    check_input(name, shape, input_kind)
    if name != "mlp" and depth < 1:
        raise ValueError(
            f"Invalid --depth {depth} with --model {name}: it must be at least 1."
        )
    with torch.random.fork_rng(devices=[]):
        if name == "cnn":
            return _cnn(shape, n_classes, depth, width, activation)
        if name == "lstm":
            steps, features = (shape[0], 1) if len(shape) == 1 else shape
            return SequenceClassifier(steps, features, n_classes, depth, width,
                                      activation)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        fan_in = n_features
        for index in range(1, depth + 1):
            layers[f"hidden{index}"] = nn.Linear(fan_in, width)
            layers[f"act{index}"] = _ACTIVATION_MODULES[activation]()
            fan_in = width
        layers["output"] = nn.Linear(fan_in, n_classes)
        return nn.Sequential(layers)
