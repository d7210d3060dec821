"""Small fully connected networks on flat weight vectors, in NumPy.

A network's weights live in one flat float64 vector, so that gradient methods,
annealing and genetic algorithms all search the same space. Every function takes a
*batch* of weight vectors of shape ``(P, n_weights)`` (P seeds, or P individuals of a
population) and evaluates them together; one row's result never depends on the
other rows, so a seed's run is the same alone or beside others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from initlab.initializers import Initializer, Zeros

__all__ = ["Network"]

_ACTIVATIONS = ("tanh", "sigmoid")
_OUTPUTS = ("sigmoid", "softmax")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: exact for large |z|, never overflows.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass(frozen=True)
class Network:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``.

    Hidden layers use ``activation``; the output is a sigmoid unit trained with
    binary cross-entropy (``output="sigmoid"``, one output) or a softmax trained with
    categorical cross-entropy (``output="softmax"``). Losses are means over examples.

    Attributes:
        sizes: Units per layer, input first, e.g. ``(2, 2, 1)``.
        activation: ``"tanh"`` or ``"sigmoid"``.
        output: ``"sigmoid"`` or ``"softmax"``.
    """

    sizes: tuple[int, ...]
    activation: str = "tanh"
    output: str = "sigmoid"

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(s) < 1 for s in self.sizes):
            raise ValueError(
                f"`sizes` must list at least two positive layer widths. "
                f"Received: sizes={self.sizes!r}."
            )
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"Unknown activation={self.activation!r}. Accepted: "
                f"{', '.join(_ACTIVATIONS)}."
            )
        if self.output not in _OUTPUTS:
            raise ValueError(
                f"Unknown output={self.output!r}. Accepted: {', '.join(_OUTPUTS)}."
            )
        if self.output == "sigmoid" and self.sizes[-1] != 1:
            raise ValueError(
                f"A sigmoid output has one unit; received sizes={self.sizes!r}."
            )

    @property
    def parameters(self) -> list[tuple[str, tuple[int, ...]]]:
        """``(name, shape)`` of each parameter, in the order of the flat vector.

        Kernels are in the Keras layout ``(in, out)``: ``dense1.kernel``,
        ``dense1.bias``, ``dense2.kernel``, ...
        """
        out = []
        for layer, (n_in, n_out) in enumerate(
            zip(self.sizes[:-1], self.sizes[1:], strict=True), 1
        ):
            out.append((f"dense{layer}.kernel", (n_in, n_out)))
            out.append((f"dense{layer}.bias", (n_out,)))
        return out

    @property
    def n_weights(self) -> int:
        return sum(int(np.prod(shape)) for _, shape in self.parameters)

    def initial_weights(
        self, init: Initializer, seed: int, prefix: str = ""
    ) -> np.ndarray:
        """One flat weight vector: kernels from ``init``, biases zero.

        Each kernel is drawn from the stream of (``seed``, ``prefix + name``), so the
        same seed gives the same start for every method, and a prefix (a restart,
        an individual of a population) gives an independent one.

        Returns:
            A float64 vector of shape ``(n_weights,)``.
        """
        parts = []
        for name, shape in self.parameters:
            source = init if name.endswith(".kernel") else Zeros()
            values = source.sample(shape, "float64", name=prefix + name, seed=seed)
            parts.append(values.ravel())
        return np.concatenate(parts)

    def _unpack(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        # Views of a (P, n_weights) batch: kernels (P, in, out), biases (P, 1, out).
        layers, offset = [], 0
        batch = theta.shape[0]
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            kernel = theta[:, offset : offset + n_in * n_out].reshape(
                batch, n_in, n_out
            )
            offset += n_in * n_out
            bias = theta[:, offset : offset + n_out].reshape(batch, 1, n_out)
            offset += n_out
            layers.append((kernel, bias))
        return layers

    def _hidden(self, z: np.ndarray) -> np.ndarray:
        return np.tanh(z) if self.activation == "tanh" else _sigmoid(z)

    def _hidden_slope(self, a: np.ndarray) -> np.ndarray:
        # The activation's derivative written with its output a.
        return 1.0 - a * a if self.activation == "tanh" else a * (1.0 - a)

    def _forward(self, theta: np.ndarray, x: np.ndarray):
        layers = self._unpack(theta)
        activations = [x]
        for kernel, bias in layers[:-1]:
            activations.append(self._hidden(activations[-1] @ kernel + bias))
        kernel, bias = layers[-1]
        logits = activations[-1] @ kernel + bias  # (P, n, n_out)
        return layers, activations, logits

    def _loss_and_delta(self, logits: np.ndarray, y: np.ndarray, need_delta: bool):
        n = logits.shape[1]
        if self.output == "sigmoid":
            z = logits[..., 0]  # (P, n)
            loss = np.mean(np.logaddexp(0.0, z) - y * z, axis=1)
            delta = ((_sigmoid(z) - y) / n)[..., None] if need_delta else None
            return loss, delta
        labels = np.broadcast_to(y, logits.shape[:2])[..., None]  # (P, n, 1)
        shifted = logits - logits.max(axis=2, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=2, keepdims=True))
        log_probs = shifted - log_norm
        loss = -np.mean(np.take_along_axis(log_probs, labels, axis=2)[..., 0], axis=1)
        if not need_delta:
            return loss, None
        delta = np.exp(log_probs)
        picked = np.take_along_axis(delta, labels, axis=2)
        np.put_along_axis(delta, labels, picked - 1.0, axis=2)
        return loss, delta / n

    def loss(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Mean loss of each weight vector of ``theta`` (shape ``(P, n_weights)``)
        on the examples ``x`` (shape ``(n, sizes[0])``) with targets ``y``.

        Returns:
            The losses, of shape ``(P,)``.
        """
        # A diverged run (inf or NaN weights) is a result, not an error.
        with np.errstate(all="ignore"):
            _, _, logits = self._forward(theta, x)
            return self._loss_and_delta(logits, y, need_delta=False)[0]

    def loss_and_grad(
        self, theta: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Losses ``(P,)`` and their gradients ``(P, n_weights)`` by backpropagation.

        ``x`` may be shared, of shape ``(n, sizes[0])``, or one batch per row, of
        shape ``(P, n, sizes[0])`` with ``y`` of shape ``(P, n)`` (SGD minibatches).
        """
        with np.errstate(all="ignore"):
            layers, activations, logits = self._forward(theta, x)
            loss, delta = self._loss_and_delta(logits, y, need_delta=True)
            grads = []
            for index in range(len(layers) - 1, -1, -1):
                kernel, _ = layers[index]
                a_in = activations[index]
                grads.append(delta.sum(axis=1))  # bias, (P, out)
                kernel_grad = np.swapaxes(a_in, -1, -2) @ delta  # (P, in, out)
                grads.append(kernel_grad.reshape(theta.shape[0], -1))
                if index:
                    back = delta @ np.swapaxes(kernel, 1, 2)
                    delta = back * self._hidden_slope(a_in)
        return loss, np.concatenate(grads[::-1], axis=1)
