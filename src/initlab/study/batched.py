"""Several seeds of one architecture trained as one batched model.

:class:`BatchedModels` stacks the parameters and buffers of ``M`` models of the same
architecture (``torch.func.stack_module_state``) and runs them with one vmapped
``torch.func.functional_call``: each member sees its own batch (or all see the same
one), keeps its own parameters, optimizer state and BatchNorm running statistics,
and gets exactly the gradient of its own loss:

- the optimizer must hold the stacked tensors (:meth:`BatchedModels.parameters`); one
  holding the original modules' parameters would train nothing, and
  :meth:`BatchedModels.train_step` raises instead of passing silently;
- the members' losses are **summed**, never averaged: the gradient of the sum with
  respect to member ``i``'s parameters is the gradient of member ``i``'s loss, as in
  its solo run (averaging would divide every member's step by ``M``);
- gradient clipping is per member (:meth:`BatchedModels.clip_grad_norm_`);
- member ``i``'s weights and buffers are slice ``i`` of the stacked tensors
  (:meth:`BatchedModels.member_state_dict`, :meth:`BatchedModels.write_back`).

Batched arithmetic is not bitwise equal to the solo arithmetic (a batched matrix
product rounds differently from a single one), so a member matches its solo run
within a tolerance, not bit for bit; see ``docs/study.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F

__all__ = ["BatchedModels", "BatchedSetupError", "check_batchable"]

_BATCHNORM = (nn.modules.batchnorm._BatchNorm,)


class BatchedSetupError(ValueError):
    """Models, buffers or an optimizer that cannot be trained as one batched model."""


def _tracking_batchnorms(model: nn.Module) -> list[str]:
    """Qualified names (``"<root>"`` for the model itself) of the BatchNorm modules
    that keep running statistics."""
    return [name or "<root>" for name, module in model.named_modules()
            if isinstance(module, _BATCHNORM) and module.track_running_stats]


def check_batchable(model: nn.Module) -> None:
    """Raise :class:`BatchedSetupError` when ``model`` contains a module that
    ``torch.func.vmap`` cannot batch (recurrent layers: there is no batching rule
    for ``aten::lstm``, ``aten::gru`` or ``aten::rnn_*``)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.RNNBase):
            raise BatchedSetupError(
                f"Batched training cannot run {type(module).__name__} "
                f"{name or '<root>'!r}: torch.func.vmap has no batching rule for "
                "recurrent layers. Train this model without --batched."
            )


class _BatchedLinear(nn.Linear):
    """``nn.Linear`` for the batched base model: the same parameters and result,
    computed as ``(W @ x^T)^T + b``. Under vmap the batched product then takes the
    weight as its left operand, so its backward yields each weight gradient in the
    weight's own layout: autograd keeps it as it comes instead of copying it into
    that layout at every step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            return F.linear(x, self.weight, self.bias)
        out = (self.weight @ x.mT).mT
        return out if self.bias is None else out + self.bias


def _batched_base(model: nn.Module) -> nn.Module:
    """A parameter-free (meta) copy of ``model`` to run with stacked tensors, its
    ``nn.Linear`` modules computed by :class:`_BatchedLinear`."""
    base = copy.deepcopy(model).to("meta")
    for module in base.modules():
        if type(module) is nn.Linear:
            module.__class__ = _BatchedLinear
    return base


class BatchedModels:
    """``M`` models of one architecture, stacked and run as one (see the module doc).

    Args:
        models: The members, distinct module objects with the same parameter and
            buffer names, shapes and dtypes. They are not changed until
            :meth:`write_back`.
        share_buffers: Run every member with member 0's buffers instead of its own.
            Refused when a BatchNorm keeps running statistics (they would be
            updated by every member at once). Defaults to False.

    Raises:
        BatchedSetupError: no models, the same module (or a parameter or buffer
            tensor) given for two members, members of different architectures, a
            recurrent layer, or shared buffers with a BatchNorm keeping running
            statistics. The message names the module at fault.
    """

    def __init__(self, models: Iterable[nn.Module], *, share_buffers: bool = False):
        self.models = list(models)
        if not self.models:
            raise BatchedSetupError("BatchedModels needs at least one model.")
        first = self.models[0]
        check_batchable(first)
        batchnorms = _tracking_batchnorms(first)
        self._check_distinct(batchnorms)
        self._check_same_architecture()
        if share_buffers and batchnorms:
            raise BatchedSetupError(
                f"BatchNorm {', '.join(map(repr, batchnorms))} keeps running "
                f"statistics: sharing buffers across the {len(self.models)} batched "
                "members would mix their statistics. Give each member its own "
                "buffers (share_buffers=False), or build the BatchNorm with "
                "track_running_stats=False."
            )
        params, buffers = stack_module_state(self.models)
        self.params: dict[str, torch.Tensor] = params
        if share_buffers:
            buffers = {name: value[0].clone() for name, value in buffers.items()}
        self.buffers: dict[str, torch.Tensor] = buffers
        self._buffer_dim = None if share_buffers else 0
        self._batchnorms = batchnorms
        self.base = _batched_base(first)
        self._originals = {id(p) for model in self.models for p in model.parameters()}
        self._checked: torch.optim.Optimizer | None = None  # checked by train_step

    # ------------------------------------------------------------------ checks

    def _check_distinct(self, batchnorms: list[str]) -> None:
        seen_modules: dict[int, int] = {}
        seen_tensors: dict[int, tuple[int, str]] = {}
        where = (f" (BatchNorm {', '.join(map(repr, batchnorms))} would share its "
                 "running statistics)") if batchnorms else ""
        for index, model in enumerate(self.models):
            if id(model) in seen_modules:
                raise BatchedSetupError(
                    f"Batched members {seen_modules[id(model)]} and {index} are the "
                    f"same module object{where}. Give each member its own copy "
                    "(copy.deepcopy)."
                )
            seen_modules[id(model)] = index
            tensors = [*model.named_parameters(), *model.named_buffers()]
            for name, tensor in tensors:
                storage = tensor.untyped_storage().data_ptr()
                key = storage if tensor.numel() else id(tensor)
                if key in seen_tensors and seen_tensors[key][0] != index:
                    other, other_name = seen_tensors[key]
                    module = name.rpartition(".")[0]
                    kind = type(model.get_submodule(module)).__name__
                    raise BatchedSetupError(
                        f"Batched members {other} and {index} share the tensor "
                        f"{name!r} of {kind} {module or '<root>'!r}"
                        + (" (BatchNorm running statistics must be per member)"
                           if kind.startswith("BatchNorm") else "")
                        + ". Give each member its own copy (copy.deepcopy)."
                    )
                seen_tensors.setdefault(key, (index, name))

    def _check_same_architecture(self) -> None:
        def layout(model: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
            return [(name, tuple(t.shape), t.dtype)
                    for name, t in [*model.named_parameters(), *model.named_buffers()]]

        reference = layout(self.models[0])
        for index, model in enumerate(self.models[1:], start=1):
            if type(model) is not type(self.models[0]) or layout(model) != reference:
                raise BatchedSetupError(
                    f"Batched member {index} has another architecture than member 0 "
                    "(parameter or buffer names, shapes or dtypes differ); only "
                    "copies of one architecture can be batched."
                )

    # ------------------------------------------------------------------ access

    @property
    def size(self) -> int:
        """The number of members, ``M``."""
        return len(self.models)

    def parameters(self) -> list[torch.Tensor]:
        """The stacked parameters (leading dimension ``M``): what the optimizer
        must hold."""
        return list(self.params.values())

    def train(self, mode: bool = True) -> BatchedModels:
        self.base.train(mode)
        return self

    def eval(self) -> BatchedModels:
        return self.train(False)

    def member_state_dict(self, index: int) -> dict[str, torch.Tensor]:
        """Member ``index``'s parameters and buffers (copies of slice ``index``),
        keyed and ordered as its module's ``state_dict()``."""
        if not -self.size <= index < self.size:
            raise IndexError(f"Member {index} out of range for {self.size} members.")
        stacked = {**self.params, **self.buffers}
        state = {}
        for name in self.models[0].state_dict():
            tensor = stacked[name]
            if self._buffer_dim is None and name in self.buffers:
                state[name] = tensor.detach().clone()
            else:
                state[name] = tensor[index].detach().clone(
                    memory_format=torch.contiguous_format)
        return state

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy each member's slice of the parameters and buffers into its module."""
        for index, model in enumerate(self.models):
            for name, value in self.member_state_dict(index).items():
                target = (model.get_parameter(name) if name in self.params
                          else model.get_buffer(name))
                target.copy_(value)

    # ----------------------------------------------------------------- compute

    def _call(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
              x: torch.Tensor) -> torch.Tensor:
        # members never tie weights across each other; skipping the search for tied
        # weights saves time on every call
        return functional_call(self.base, (params, buffers), (x,), tie_weights=False)

    def _call_without_buffers(self, params: dict[str, torch.Tensor],
                              x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.base, params, (x,), tie_weights=False)

    def _vmapped(self, fn, in_dims: tuple, *args: torch.Tensor) -> torch.Tensor:
        try:
            if not self.buffers:  # fewer inputs for vmap to wrap: faster
                return vmap(self._call_without_buffers,
                            in_dims=(0, *in_dims[2:]))(self.params, *args)
            return vmap(fn, in_dims=in_dims)(self.params, self.buffers, *args)
        except RuntimeError as exc:
            if "Batch norm" in str(exc) or "running_mean" in str(exc):
                raise BatchedSetupError(
                    "BatchNorm running statistics cannot be updated for the batched "
                    f"members with shared buffers ({str(exc).splitlines()[0]}). Give "
                    "each member its own buffers."
                ) from exc
            raise

    def forward(self, x: torch.Tensor, *, shared_input: bool = False) -> torch.Tensor:
        """Every member's output, stacked: ``(M, ...)``.

        Args:
            x: ``(M, batch, ...)``, member ``i`` reading ``x[i]``; or, with
                ``shared_input``, one ``(batch, ...)`` input for all members.
        """
        dims = (0, self._buffer_dim, None if shared_input else 0)
        return self._vmapped(self._call, dims, x)

    __call__ = forward

    def losses(self, x: torch.Tensor, y: torch.Tensor, *,
               shared_input: bool = False) -> torch.Tensor:
        """Each member's mean cross-entropy on its batch, shape ``(M,)``.

        Args:
            x: As for :meth:`forward`; each member's output must be
                ``(batch, classes)`` logits.
            y: ``(M, batch)`` class labels, or ``(batch,)`` with ``shared_input``.
        """
        logits = self.forward(x, shared_input=shared_input)
        members, batch, classes = logits.shape
        labels = y.expand(members, batch) if shared_input else y
        # One cross-entropy over every member's examples, then each member's mean:
        # cheaper than a vmapped cross-entropy, and the same per-member value.
        per_example = F.cross_entropy(logits.reshape(members * batch, classes),
                                      labels.reshape(-1), reduction="none")
        return per_example.view(members, batch).mean(dim=1)

    def check_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Raise :class:`BatchedSetupError` unless ``optimizer`` holds every stacked
        parameter and none of the original modules' parameters."""
        held = [p for group in optimizer.param_groups for p in group["params"]]
        held_ids = {id(p) for p in held}
        if any(id(p) in self._originals for p in held):
            raise BatchedSetupError(
                "The optimizer holds the original modules' parameters, which batched "
                "training never updates: build it from BatchedModels.parameters(), "
                "the stacked tensors."
            )
        missing = [name for name, p in self.params.items() if id(p) not in held_ids]
        if missing:
            raise BatchedSetupError(
                f"The optimizer does not hold the stacked parameters {missing}: build "
                "it from BatchedModels.parameters()."
            )

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float, norm_type: float = 2.0) -> torch.Tensor:
        """Clip each member's gradient to total norm ``max_norm``, on its own.

        The same rule as ``torch.nn.utils.clip_grad_norm_`` on one member's
        parameters: scale by ``min(1, max_norm / (norm + 1e-6))``. Members never
        influence each other's scale.

        Returns:
            Each member's total gradient norm before clipping, shape ``(M,)``.
        """
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        if not grads:
            return torch.zeros(self.size)
        per_tensor = torch.stack([
            torch.linalg.vector_norm(g.reshape(self.size, -1), norm_type, dim=1)
            for g in grads
        ], dim=1)
        norms = torch.linalg.vector_norm(per_tensor, norm_type, dim=1)
        scale = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))).to(g.dtype))
        return norms

    def train_step(self, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                   y: torch.Tensor, *, clip: float | None = None,
                   shared_input: bool = False) -> torch.Tensor:
        """One optimizer step of every member on its own batch.

        The members' losses are summed (never averaged) before the backward pass,
        so member ``i`` gets exactly the gradient of its own loss; ``clip`` clips
        each member's gradient norm on its own.

        Returns:
            Each member's loss before the step, detached, shape ``(M,)``.

        Raises:
            BatchedSetupError: the optimizer does not hold the stacked parameters.
        """
        if self._checked is not optimizer:
            self.check_optimizer(optimizer)
            self._checked = optimizer
        losses = self.losses(x, y, shared_input=shared_input)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        if clip is not None:
            self.clip_grad_norm_(clip)
        optimizer.step()
        return losses.detach()

