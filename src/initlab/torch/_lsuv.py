"""Layer-sequential unit-variance initialization (Mishkin and Matas 2016).

LSUV fixes the scale of every layer by measuring it: an orthogonal
pre-initialization, then, layer by layer in the order of the forward pass, the
weights are divided by the std of the layer's output on a batch until its variance
is within ``tol`` of 1.

Reference: Mishkin and Matas, "All you need is a good init", ICLR 2016,
https://arxiv.org/abs/1511.06422
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from initlab import seeds
from initlab._torchutil import call_model, format_table
from initlab.initializers import Orthogonal
from initlab.torch._adapter import initialize

__all__ = [
    "LSUV_ENTRY",
    "LSUVReport",
    "LSUVRow",
    "LSUVWarning",
    "initialize_lsuv",
    "lsuv",
    "lsuv_policy_applies",
]

#: The name of LSUV as a study's ``--inits`` entry.
LSUV_ENTRY = "lsuv"
#: The module types LSUV rescales: every Linear and convolution (transposed too).
TARGETS = (nn.Linear, nn.modules.conv._ConvNd)


class LSUVWarning(UserWarning):
    """LSUV left a layer out (never reached) or could not bring it to unit variance."""


@dataclass
class LSUVRow:
    """One layer LSUV processed.

    Attributes:
        name: Qualified module name.
        kind: Module type.
        variance_found: Output variance on the batch with the weights as found.
        variance_before: Output variance after the orthogonal pre-initialization,
            with the layers before it already rescaled: where the loop started.
        variance_after: Output variance when LSUV was done, measured by a final
            forward pass.
        iterations: Rescalings of the weight.
        converged: Whether ``|variance_after - 1| < tol``.
    """

    name: str
    kind: str
    variance_found: float
    variance_before: float
    variance_after: float
    iterations: int
    converged: bool


@dataclass
class LSUVReport:
    """What :func:`lsuv` did, one row per layer in forward order; prints as a table."""

    seed: int
    tol: float
    max_iter: int
    rows: list[LSUVRow] = field(default_factory=list)
    #: Qualified names of Linear/convolution layers the forward pass never reached.
    unreached: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return all(row.converged for row in self.rows)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [asdict(row) for row in self.rows]

    def __str__(self) -> str:
        header = (
            "layer",
            "kind",
            "var found",
            "var before",
            "var after",
            "iterations",
            "converged",
        )
        rows = [
            (
                r.name,
                r.kind,
                f"{r.variance_found:.4g}",
                f"{r.variance_before:.4g}",
                f"{r.variance_after:.4g}",
                str(r.iterations),
                "yes" if r.converged else "NO",
            )
            for r in self.rows
        ]
        rendered = format_table(header, rows)
        title = (
            f"initlab.torch.lsuv: seed={self.seed} tol={self.tol} "
            f"max_iter={self.max_iter}"
        )
        tail = (
            [f"not reached by the forward pass: {', '.join(self.unreached)}"]
            if self.unreached
            else []
        )
        return "\n".join([title, *rendered, *tail])


class _Stop(Exception):
    """Raised by a hook to end a forward pass early."""


def _first_tensor(output: Any) -> torch.Tensor:
    while isinstance(output, (tuple, list)):
        output = output[0]
    return output


def _variance(output: Any) -> float:
    tensor = _first_tensor(output).detach().to(torch.float64)
    return float(tensor.var(correction=0))


def _trace(
    model: nn.Module, batch: Any, targets: dict[nn.Module, str]
) -> dict[nn.Module, float]:
    """One forward pass: the output variance of each target at its first call, in
    the order the calls happen."""
    found: dict[nn.Module, float] = {}

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        if module not in found:
            found[module] = _variance(output)

    handles = [module.register_forward_hook(hook) for module in targets]
    try:
        call_model(model, batch)
    finally:
        for handle in handles:
            handle.remove()
    return found


def _orthogonal(module: nn.Module, name: str, seed: int) -> None:
    """Orthogonal weight from the stream of (seed, "<name>.weight"), zero bias: what
    ``initialize(model, Orthogonal(), seed)`` gives the layer."""
    initialize(module, Orthogonal(), seed=seed, prefix=f"{name}." if name else "")


class _Rescaler:
    """A forward hook that rescales each target at its first call, then lets the
    forward pass go on with the rescaled output."""

    def __init__(self, targets: dict[nn.Module, str], tol: float, max_iter: int):
        self.targets = targets
        self.tol = tol
        self.max_iter = max_iter
        self.done: dict[nn.Module, tuple[float, int]] = {}

    def __call__(
        self, module: nn.Module, args: Any, kwargs: dict[str, Any], output: Any
    ) -> Any:
        if module in self.done:
            return None
        variance = before = _variance(output)
        iterations = 0
        while (
            abs(variance - 1.0) >= self.tol
            and iterations < self.max_iter
            and 0.0 < variance < math.inf
        ):
            module.weight.mul_(1.0 / math.sqrt(variance))
            iterations += 1
            # forward() rather than __call__: the hooks must not run again.
            output = module.forward(*args, **kwargs)
            variance = _variance(output)
        self.done[module] = (before, iterations)
        return output


def _check_args(model: Any, tol: Any, max_iter: Any, seed: Any) -> int:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"`model` must be a torch.nn.Module. Received: {type(model).__name__}."
        )
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"`tol` must be a number in (0, 1). Received: tol={tol!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(
            f"`max_iter` must be a positive integer. Received: max_iter={max_iter!r}."
        )
    return seeds.check_seed(seed)


def lsuv(
    model: nn.Module, batch: Any, tol: float = 0.1, max_iter: int = 10, seed: int = 0
) -> LSUVReport:
    """Initialize every Linear and convolution layer of ``model`` by LSUV, in place.

    1. A forward pass finds the Linear and convolution layers (transposed ones
       too) that the batch reaches, in the order it reaches them; a layer never
       reached is named in an :class:`LSUVWarning` and left unchanged.
    2. Each reached layer gets an orthogonal weight (initlab's ``Orthogonal``,
       drawn from the stream of ``(seed, "<layer>.weight")`` in the Keras layout,
       as ``initlab.torch.initialize`` would draw it) and a zero bias.
    3. One more forward pass visits the layers in order: at each layer's first
       call the weight is divided by the std of its output until the output
       variance is within ``tol`` of 1 or ``max_iter`` rescalings were made; the
       pass goes on with the rescaled output.
    4. A last forward pass measures every layer's output variance for the report.

    The passes run in eval mode (dropout off; normalization layers use, and do
    not update, their running statistics), without gradients, and inside a fork
    of the global torch random state: the model comes back in the train/eval
    mode it was in, and the global random state is untouched. Other parameters
    (normalization, recurrent layers, embeddings) are left as they are.

    Args:
        model: The module to initialize.
        batch: The input: a tensor (``model(batch)``), a tuple or list
            (``model(*batch)``) or a dict (``model(**batch)``).
        tol: Accepted distance of the output variance from 1, in (0, 1). Defaults
            to 0.1.
        max_iter: Most rescalings per layer. Defaults to 10.
        seed: Seed of the orthogonal pre-initialization. Defaults to 0.

    Returns:
        An :class:`LSUVReport`.

    Raises:
        TypeError, ValueError: invalid arguments.
    """
    seed = _check_args(model, tol, max_iter, seed)
    named = {
        module: name
        for name, module in model.named_modules()
        if isinstance(module, TARGETS) and isinstance(module.weight, nn.Parameter)
    }
    report = LSUVReport(seed=seed, tol=float(tol), max_iter=max_iter)
    training = {module: module.training for module in model.modules()}
    devices = sorted(
        {p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"}
    )
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            model.eval()
            found = _trace(model, batch, named)
            report.unreached = [
                name for module, name in named.items() if module not in found
            ]
            reached = {module: named[module] for module in found}
            for module, name in reached.items():
                _orthogonal(module, name, seed)
            rescaler = _Rescaler(reached, float(tol), max_iter)
            handles = [
                m.register_forward_hook(rescaler, with_kwargs=True) for m in reached
            ]
            try:
                call_model(model, batch)
            finally:
                for handle in handles:
                    handle.remove()
            after = _trace(model, batch, reached)
    finally:
        for module, mode in training.items():
            module.training = mode
    for module, name in reached.items():
        before, iterations = rescaler.done.get(module, (math.nan, 0))
        variance = after.get(module, math.nan)
        report.rows.append(
            LSUVRow(
                name,
                type(module).__name__,
                found[module],
                before,
                variance,
                iterations,
                abs(variance - 1.0) < tol,
            )
        )
    _warn(report)
    return report


def _warn(report: LSUVReport) -> None:
    if report.unreached:
        warnings.warn(
            "LSUV left these layers unchanged because the forward pass never reached "
            f"them: {', '.join(report.unreached)}.",
            LSUVWarning,
            stacklevel=3,
        )
    if not report.rows:
        warnings.warn(
            "LSUV found no Linear or convolution layer in the forward pass.",
            LSUVWarning,
            stacklevel=3,
        )
    stuck = [
        f"{r.name} (variance {r.variance_after:.4g})"
        for r in report.rows
        if not r.converged
    ]
    if stuck:
        warnings.warn(
            f"LSUV did not bring these layers within tol={report.tol} of unit variance "
            f"in {report.max_iter} iterations: {', '.join(stuck)}. A zero or "
            "non-finite output cannot be rescaled; a layer whose input depends on its "
            "own weights (shared weights) may need another call.",
            LSUVWarning,
            stacklevel=3,
        )


# -------------------------------------------------------------------------- studies


def lsuv_policy_applies(entry: Any) -> bool:
    """Whether a study's ``--inits`` entry names LSUV.

    True for the string ``"lsuv"`` (any case, surrounding spaces ignored) and for
    an object whose ``label`` or ``config`` is that string (a study's parsed
    entry); False for everything else. A study that gets True initializes the
    run's model with :func:`initialize_lsuv` instead of ``initialize``.
    """

    def names_lsuv(value: Any) -> bool:
        return isinstance(value, str) and value.strip().lower() == LSUV_ENTRY

    return (
        names_lsuv(entry)
        or names_lsuv(getattr(entry, "label", None))
        or names_lsuv(getattr(entry, "config", None))
    )


def initialize_lsuv(
    model: nn.Module,
    inputs: Any,
    seed: int = 0,
    batch_size: int = 256,
    tol: float = 0.1,
    max_iter: int = 10,
) -> LSUVReport:
    """A study's ``lsuv`` entry: the keras policy, then LSUV on a batch of data.

    Every parameter first gets the keras policy from the streams of
    ``(seed, name)`` (so recurrent layers, embeddings and normalization layers are
    initialized too); then :func:`lsuv` runs on ``batch_size`` rows of ``inputs``
    chosen without replacement by the stream of ``(seed, "lsuv/batch")`` and kept
    in their original order. The result depends on the seed and the data only.

    Args:
        model: The run's model.
        inputs: The training inputs, a tensor with examples on the first axis.
        seed: The run seed. Defaults to 0.
        batch_size: Rows LSUV measures on (all of them when fewer). Defaults to 256.
        tol, max_iter: As in :func:`lsuv`.

    Returns:
        The :class:`LSUVReport`.
    """
    seed = seeds.check_seed(seed)
    if not isinstance(inputs, torch.Tensor) or inputs.dim() == 0:
        raise TypeError("`inputs` must be a tensor with examples on the first axis.")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise ValueError(
            "`batch_size` must be a positive integer. "
            f"Received: batch_size={batch_size!r}."
        )
    initialize(model, "keras", seed=seed)
    count = inputs.shape[0]
    rows = seeds.stream(seed, "lsuv/batch").choice(
        count, min(batch_size, count), replace=False
    )
    index = torch.from_numpy(np.sort(rows)).to(inputs.device)
    return lsuv(
        model, inputs.index_select(0, index), tol=tol, max_iter=max_iter, seed=seed
    )
