"""``multitask.backward``: fill ``.grad`` from several task losses and one balancing method.

The layer above :mod:`multitask.methods` (engine + method -> ``.grad``). The module is private
(``_backward``) because its public name, ``multitask.backward``, is the function: a public module of the
same name would be shadowed by it (``import multitask.backward`` would hand back the function). Import
``backward`` and :class:`StepInfo` from :mod:`multitask`.

Parameters mode (``features=None``): per-task gradients w.r.t. the shared parameters form the
Jacobian; the method's combination is accumulated into the shared parameters' ``.grad``.
Features mode (``features=z``, the MGDA-UB idea of Sener & Koltun 2018): per-task gradients w.r.t.
the shared representation ``z`` (cheap: they stop at ``z``); the method's combination ``d`` is then
back-propagated once from ``z`` into the shared parameters.

In both modes every other parameter the losses reach (task heads) gets its own task's gradient, i.e.
the gradient of ``Σₜ Lₜ`` (unweighted, as in Algorithm 2 of Sener & Koltun). Loss weightings need no
Jacobian: their objective (``Σₜ wₜLₜ`` or the method's own) is back-propagated into everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from multitask.core import jacobian as jac
from multitask.core.graph import reachable_leaves, walk
from multitask.methods.base import GradientMethod, LossWeighting, Method

__all__ = ["GradientOverflowError", "Reduce", "StepInfo", "backward"]

LossesLike = Mapping[str, Tensor] | Sequence[Tensor]
#: the loss scale of the running call (mixed precision; 1 otherwise)
_GRAD_SCALE: ContextVar[float] = ContextVar("multitask_grad_scale", default=1.0)


def _scaled(t: Tensor) -> Tensor:
    scale = _GRAD_SCALE.get()
    return t if scale == 1.0 else t * scale


class GradientOverflowError(ValueError):
    """Mixed precision: the scaled task gradients overflowed; the step must be skipped (the method did not
    run, its state is untouched) and the loss scale lowered, as ``GradScaler`` does."""


@dataclass
class StepInfo:
    """What one call of :func:`backward` did, for logging.

    Attributes:
        task_names: task names in order.
        losses: detached loss values ``[T]``.
        weights: the method's task weights ``[T]`` (``None`` for direction-only methods).
        grad_norms: per-task gradient norms ``[T]`` (w.r.t. the Jacobian's inputs) when computed.
        cosines: ``[T, T]`` cosine similarities of the task gradients when computed.
        mode: ``"loss"``, ``"parameters"`` or ``"features"``.
        absent: tasks left out of this step (no labelled sample); the other fields cover the present
            tasks only.
    """

    task_names: list[str]
    losses: Tensor
    weights: Tensor | None = None
    grad_norms: Tensor | None = None
    cosines: Tensor | None = None
    mode: str = "loss"
    extra: dict[str, float] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, float]:
        """Flat ``{name: float}`` record (``loss/<task>``, ``weight/<task>``, ``grad_norm/<task>``)."""
        out: dict[str, float] = {}
        for i, name in enumerate(self.task_names):
            out[f"loss/{name}"] = float(self.losses[i])
            if self.weights is not None:
                out[f"weight/{name}"] = float(self.weights[i])
            if self.grad_norms is not None:
                out[f"grad_norm/{name}"] = float(self.grad_norms[i])
        if self.cosines is not None:
            for i, a in enumerate(self.task_names):
                for j in range(i + 1, len(self.task_names)):
                    out[f"cos/{a}/{self.task_names[j]}"] = float(self.cosines[i, j])
        out.update(self.extra)
        return out


def backward(
    losses: LossesLike,
    method: Method,
    *,
    shared: Iterable[Tensor],
    features: Tensor | Sequence[Tensor] | None = None,
    retain_graph: bool = False,
    strategy: str = "auto",
    chunk_size: int | None = None,
    reduce: Reduce | None = None,
    grad_scale: float | None = None,
) -> StepInfo:
    """Accumulate gradients into ``.grad`` like ``Tensor.backward`` does, balanced by ``method``.

    Partial labels: a loss given as ``None`` marks a task absent from this step (none of its samples is
    labelled). The step then aggregates the present tasks only (``T_eff < T``): the method sees their
    losses / Jacobian rows, stateful methods keep the absent tasks' state by task position (see
    :meth:`~multitask.methods.base.Method.begin_subset`), and the absent tasks' heads get no gradient.

    Args:
        losses: ``{task: scalar loss}`` (or a sequence of scalar losses, named ``"0"``, ``"1"``, ...);
            ``None`` for an absent task.
        method: a :class:`~multitask.methods.base.LossWeighting` or
            :class:`~multitask.methods.base.GradientMethod`.
        shared: the shared parameters (they receive the method's combined update).
        features: the shared representation (a tensor or tuple of tensors) for features mode.
        retain_graph: keep the graph after the call.
        strategy: Jacobian strategy, ``"auto"``, ``"loop"`` or ``"batched"`` (see
            :mod:`multitask.core.jacobian`).
        chunk_size: rows per batched VJP (bounds memory of the ``"batched"`` strategy).
        reduce: data parallelism (several processes, one update): a :class:`Reduce`, e.g.
            ``multitask.distributed.Reducer()``. Every rank then gets the update of one process on the
            concatenated batch (see "data parallel" below); ``None``: this process alone.
        grad_scale: mixed precision with a loss scale ``S`` (``GradScaler.get_scale()``): the losses are
            differentiated times ``S`` (no fp16 underflow) but the method sees the unscaled Jacobian and
            losses; everything added to ``.grad`` is ``S`` times the gradient, for ``GradScaler.unscale_``.
            A non-finite Jacobian then raises :class:`GradientOverflowError` before the method runs.

    Returns:
        A :class:`StepInfo` with the weights and, when the Jacobian was computed, norms and cosines.
    """
    if not isinstance(method, Method):
        raise TypeError(f"method must be a multitask Method, got {type(method).__name__}")
    if reduce is not None:  # every rank learns together whether some rank lacks a task's labels (no hang)
        _dp_refuse_absent(losses, reduce)
    present, all_names, absent = _split_absent(losses)  # partial labels
    if absent:
        return _subset_backward(
            present,
            all_names,
            absent,
            method,
            shared,
            features,
            retain_graph,
            strategy,
            chunk_size,
            grad_scale,
        )
    names, scalars, vec = _stack_losses(losses, check_finite=reduce is None)
    scale = 1.0
    if grad_scale is not None:  # mixed precision: differentiate S·L; the method sees L and J
        if isinstance(grad_scale, bool) or not isinstance(grad_scale, (int, float)):
            raise TypeError(f"grad_scale must be a number, got {type(grad_scale).__name__}")
        if not 0 < grad_scale < float("inf"):
            raise ValueError(f"grad_scale must be a positive finite number, got {grad_scale!r}")
        scale = float(grad_scale)
        scalars = [v * scale for v in scalars]  # vec stays unscaled: the methods read it
    token = _GRAD_SCALE.set(scale)
    try:
        return _dispatch(
            names, scalars, vec, method, shared, features, retain_graph, strategy, chunk_size, reduce
        )
    finally:
        _GRAD_SCALE.reset(token)


def _dispatch(
    names: list[str],
    scalars: list[Tensor],
    vec: Tensor,
    method: Method,
    shared: Iterable[Tensor],
    features: Tensor | Sequence[Tensor] | None,
    retain_graph: bool,
    strategy: str,
    chunk_size: int | None,
    reduce: Reduce | None,
) -> StepInfo:
    if reduce is not None and method.data_parallel_error:
        raise ValueError(
            f"{type(method).__name__} is not exact under data parallelism: {method.data_parallel_error}"
        )
    if reduce is not None:  # data parallel: every rank raises together or none does (no hang)
        vec = _dp_losses(names, vec, reduce)
    shared_list = _unique(list(shared))
    for i, p in enumerate(shared_list):
        if not isinstance(p, Tensor) or not p.requires_grad:
            raise ValueError(f"shared parameter #{i} must be a tensor that requires grad")
    if isinstance(method, LossWeighting):
        if features is not None:
            raise ValueError(
                f"{type(method).__name__} is a loss weighting: it uses no Jacobian, so features mode "
                "does not apply; call backward without features"
            )
        if reduce is not None:
            return _dp_loss_step(names, scalars, vec, method, shared_list, retain_graph, reduce)
        return _loss_step(names, scalars, vec, method, shared_list, retain_graph)
    if not isinstance(method, GradientMethod):
        raise TypeError(f"{type(method).__name__} is neither a LossWeighting nor a GradientMethod")
    if features is None:
        if not method.supports_parameters:
            raise ValueError(
                f"{type(method).__name__} does not support parameters mode: {method.parameters_error}"
            )
        return _parameters_step(
            names, scalars, vec, method, shared_list, retain_graph, strategy, chunk_size, reduce
        )
    if not method.supports_features:
        raise ValueError(f"{type(method).__name__} does not support features mode: {method.features_error}")
    feats = [features] if isinstance(features, Tensor) else list(features)
    return _features_step(
        names, scalars, vec, method, shared_list, feats, retain_graph, strategy, chunk_size, reduce
    )


# ---- the three steps -------------------------------------------------------------------------
def _loss_step(
    names: list[str],
    scalars: list[Tensor],
    vec: Tensor,
    method: LossWeighting,
    shared: list[Tensor],
    retain_graph: bool,
) -> StepInfo:
    leaves = reachable_leaves(scalars)
    _check_shared_reached(shared, leaves)
    total = method.combine(vec, names, shared=shared)
    _scaled(total).backward(retain_graph=retain_graph)
    weights = method.last_weights
    return StepInfo(task_names=names, losses=vec.detach(), weights=weights, mode="loss")


def _parameters_step(
    names: list[str],
    scalars: list[Tensor],
    vec: Tensor,
    method: GradientMethod,
    shared: list[Tensor],
    retain_graph: bool,
    strategy: str,
    chunk_size: int | None,
    reduce: Reduce | None = None,
) -> StepInfo:
    if not shared:
        raise ValueError("parameters mode needs at least one shared parameter")
    leaves = reachable_leaves(scalars)
    _check_shared_reached(shared, leaves)
    shared_ids = {id(p) for p in shared}
    others = [x for k, x in leaves.items() if k not in shared_ids]
    blocks = jac.jacobian_blocks(scalars, shared, strategy=strategy, chunk_size=chunk_size)
    if reduce is not None:  # data parallel: the Jacobian of the global batch, on every rank
        blocks = reduce.mean(blocks)
    info = _combine(names, vec, method, blocks, "parameters")
    direction = info.pop("direction")
    if reduce is not None:
        _dp_accumulate(scalars, others, [], [], retain_graph, reduce)
    elif others:
        torch.autograd.backward(scalars, inputs=others, retain_graph=retain_graph)
    for p, d in zip(shared, direction):
        _accumulate(p, _scaled(d))
    return info.pop("step_info")


def _features_step(
    names: list[str],
    scalars: list[Tensor],
    vec: Tensor,
    method: GradientMethod,
    shared: list[Tensor],
    feats: list[Tensor],
    retain_graph: bool,
    strategy: str,
    chunk_size: int | None,
    reduce: Reduce | None = None,
) -> StepInfo:
    for i, z in enumerate(feats):
        if not isinstance(z, Tensor) or not z.requires_grad:
            raise ValueError(f"features[{i}] must be a tensor that requires grad (the shared representation)")
    stops = {z.grad_fn for z in feats if z.grad_fn is not None}
    feat_ids = {id(z) for z in feats}
    head_leaves, visited = walk(scalars, stop=stops)
    missing = [
        i
        for i, z in enumerate(feats)
        if (z.grad_fn not in visited if z.grad_fn is not None else id(z) not in head_leaves)
    ]
    if missing:
        raise ValueError(f"the losses do not depend on features{missing}: pass the shared representation")
    shared_ids = {id(p) for p in shared}
    direct = [i for i, p in enumerate(shared) if id(p) in head_leaves]
    if direct:
        raise ValueError(
            f"shared parameters {direct} are used by the task heads directly, not only through the "
            "features; in features mode `shared` must be the parameters upstream of the features"
        )
    upstream = reachable_leaves(feats)
    _check_shared_reached(shared, upstream, where="through the features")
    others = [x for k, x in head_leaves.items() if k not in shared_ids and k not in feat_ids]
    blocks = jac.jacobian_blocks(scalars, feats, strategy=strategy, chunk_size=chunk_size)
    if reduce is not None:
        direction, step_info = _dp_features_direction(names, vec, method, feats, blocks, reduce)
        _dp_accumulate(scalars, others, feats, direction, retain_graph, reduce, shared)
        return step_info
    method.on_features(feats)
    info = _combine(names, vec, method, blocks, "features")
    direction = info.pop("direction")
    if others:
        torch.autograd.backward(scalars, inputs=others, retain_graph=True)
    scaled = [_scaled(d) for d in direction]
    torch.autograd.backward(feats, grad_tensors=scaled, inputs=shared, retain_graph=retain_graph)
    return info.pop("step_info")


def _combine(
    names: list[str],
    vec: Tensor,
    method: GradientMethod,
    blocks: list[Tensor],
    mode: str,
    gramian: Tensor | None = None,
) -> dict:
    t = len(names)
    scale = _GRAD_SCALE.get()
    if scale != 1.0:  # mixed precision: the blocks are of S·L, the method sees those of L
        blocks = [b / scale for b in blocks]
        gramian = None if gramian is None else gramian / scale**2
    finite = torch.stack([torch.isfinite(b.reshape(t, -1)).all(dim=1) for b in blocks]).all(dim=0)
    if not bool(finite.all()):  # one device sync for all tasks and blocks
        bad = [names[i] for i in (~finite).nonzero().flatten().tolist()]
        if scale != 1.0:
            raise GradientOverflowError(f"non-finite scaled gradients for tasks {bad} (loss scale {scale:g})")
        raise ValueError(f"non-finite gradients for tasks {bad}")
    gram = jac.gramian_from_blocks(blocks) if gramian is None else gramian
    losses = vec.detach()
    direction = method.combine_blocks(blocks, losses, gramian=gram)
    weights = method.last_weights
    norms = gram.diagonal().clamp_min(0).sqrt()
    denom = torch.outer(norms, norms)
    cos = torch.where(denom > 0, gram / denom.clamp_min(torch.finfo(gram.dtype).tiny), torch.zeros_like(gram))
    info = StepInfo(
        task_names=names,
        losses=losses,
        weights=None if weights is None else weights.detach(),
        grad_norms=norms,
        cosines=cos.clamp(-1.0, 1.0),
        mode=mode,
    )
    return {"direction": direction, "step_info": info}


# ---- helpers ---------------------------------------------------------------------------------
def _stack_losses(losses: LossesLike, check_finite: bool = True) -> tuple[list[str], list[Tensor], Tensor]:
    """Names, the scalar losses (each keeps its own graph) and their stacked vector."""
    if isinstance(losses, Mapping):
        names = [str(k) for k in losses.keys()]
        values = list(losses.values())
    elif isinstance(losses, Tensor):
        if losses.dim() != 1:
            raise ValueError(f"a loss tensor must be a 1-D vector of task losses, got {tuple(losses.shape)}")
        names = [str(i) for i in range(losses.shape[0])]
        values = list(losses.unbind())
    else:
        values = list(losses)
        names = [str(i) for i in range(len(values))]
    if not values:
        raise ValueError("no task losses given: the task set is empty")
    for name, v in zip(names, values):
        if not isinstance(v, Tensor):
            raise TypeError(f"the loss of task {name!r} must be a tensor, got {type(v).__name__}")
        if v.numel() != 1 or v.dim() > 1:
            raise ValueError(f"the loss of task {name!r} must be a scalar, got shape {tuple(v.shape)}")
        if not v.requires_grad:
            raise ValueError(f"the loss of task {name!r} does not require grad (no graph to differentiate)")
    dtype = values[0].dtype
    for v in values[1:]:
        dtype = torch.promote_types(dtype, v.dtype)
    scalars = [v.reshape(()).to(dtype) for v in values]
    vec = torch.stack(scalars)
    if check_finite:
        _check_finite_losses(names, vec)
    return names, scalars, vec


def _check_finite_losses(names: list[str], vec: Tensor) -> None:
    finite = torch.isfinite(vec.detach())
    if not bool(finite.all()):  # one device sync for all tasks
        i = int((~finite).nonzero()[0])
        raise ValueError(f"the loss of task {names[i]!r} is not finite: {vec[i].item()}")


def _unique(tensors: list[Tensor]) -> list[Tensor]:
    seen: set[int] = set()
    out = []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _check_shared_reached(shared: list[Tensor], leaves: dict[int, Tensor], where: str = "") -> None:
    bad = [i for i, p in enumerate(shared) if id(p) not in leaves]
    if bad:
        shapes = [tuple(shared[i].shape) for i in bad]
        suffix = f" {where}" if where else ""
        raise ValueError(f"no task loss depends{suffix} on shared parameters {bad} (shapes {shapes})")


def _accumulate(p: Tensor, g: Tensor) -> None:
    g = g.detach().to(p.dtype)
    if p.grad is None:
        p.grad = g.clone()
    else:
        p.grad.add_(g)


# ---- data parallel (DESIGN.md "Scale: one update, many processes"; issue 13) ------------------------
class Reduce(Protocol):
    """Collective operations over the processes of one data-parallel job (``multitask.distributed.Reducer``).

    Every process calls the same operations in the same order with tensors of the same shapes.
    """

    world_size: int
    rank: int

    def mean(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """Elementwise mean over the processes (new tensors, same shapes)."""
        ...

    def sum(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """Elementwise sum over the processes."""
        ...

    def gather(self, tensors: Sequence[Tensor], dim: int = 0) -> list[Tensor]:
        """Each tensor concatenated along ``dim`` over the processes, in rank order (equal shapes)."""
        ...


def _dp_losses(names: list[str], vec: Tensor, reduce: Reduce) -> Tensor:
    """The loss vector whose *value* is the global (rank-averaged) one and whose *gradient* is local.

    With equal per-rank batches the global loss is the mean of the ranks' losses, so for any objective
    ``f(L)`` the chain rule gives ``∇f(L_global) = f'(L_global) · meanᵣ ∇Lᵣ``: evaluating ``f'`` at the
    global value and averaging the local gradients over the ranks is exact.
    """
    (global_vec,) = reduce.mean([vec.detach()])
    _check_finite_losses(names, global_vec)
    return vec + (global_vec - vec).detach()


def _dp_loss_step(
    names: list[str],
    scalars: list[Tensor],
    vec: Tensor,
    method: LossWeighting,
    shared: list[Tensor],
    retain_graph: bool,
    reduce: Reduce,
) -> StepInfo:
    """Loss weighting under data parallelism: weights from the global losses, gradients averaged."""
    _check_shared_reached(shared, reachable_leaves(scalars))
    total = method.combine(vec, names, shared=shared, reduce=reduce.mean)
    total = _scaled(total)
    leaves = list(reachable_leaves([total]).values())  # the model's and the method's own parameters
    _dp_grads_into(torch.autograd.grad(total, leaves, retain_graph=retain_graph, allow_unused=True), leaves,
                   reduce)  # fmt: skip
    return StepInfo(task_names=names, losses=vec.detach(), weights=method.last_weights, mode="loss")


def _dp_features_direction(
    names: list[str],
    vec: Tensor,
    method: GradientMethod,
    feats: list[Tensor],
    blocks: list[Tensor],
    reduce: Reduce,
) -> tuple[list[Tensor], StepInfo]:
    """Features mode under data parallelism: this rank's rows of the global direction, times ``N``.

    The global feature Jacobian is ``J = [J₁, …, J_N] / N`` (rank ``r``'s samples, mean losses), so
    ``G = Σᵣ Gᵣ / N²``: a Gramian method needs only that all-reduce (``T²`` numbers) and its direction
    on rank ``r`` is ``wᵀJᵣ / N``. A method that needs ``J`` itself runs on the all-gathered ``J``
    (``T × global batch × feature`` numbers, equal per-rank batches) identically on every rank; each
    rank keeps its own rows. The returned rows are scaled by ``N`` because the shared gradients that
    they produce are then averaged (not summed) over the ranks.
    """
    n = reduce.world_size
    if method.needs == "gramian":
        bad = sum((~torch.isfinite(b)).sum() for b in blocks).to(blocks[0].dtype).reshape(1)
        gram, bad = reduce.sum([jac.gramian_from_blocks(blocks), bad])
        if bool(bad.item() > 0):  # every rank raises, not only the one whose gradients broke (no hang)
            error = GradientOverflowError if _GRAD_SCALE.get() != 1.0 else ValueError
            raise error(
                f"non-finite gradients w.r.t. the features on some process (loss scale {_GRAD_SCALE.get():g})"
            )
        method.on_features(feats)
        info = _combine(names, vec, method, blocks, "features", gramian=gram / n**2)
        return [_scaled(d) for d in info["direction"]], info["step_info"]
    sizes = reduce.gather([torch.tensor([b.shape[1] for b in blocks], device=blocks[0].device)])[0]
    if not bool((sizes.reshape(n, -1) == sizes.reshape(n, -1)[0]).all()):
        raise ValueError(
            f"{type(method).__name__} needs the feature Jacobian itself: under data parallelism every rank "
            f"must hold the same number of samples (got {sizes.reshape(n, -1)[:, 0].tolist()})"
        )
    full = [b / n for b in reduce.gather(blocks, dim=1)]
    method.on_features(reduce.gather([z.detach() for z in feats], dim=0))
    info = _combine(names, vec, method, full, "features")
    mine = [
        d.narrow(0, reduce.rank * b.shape[1], b.shape[1]) * (n * _GRAD_SCALE.get())
        for d, b in zip(info["direction"], blocks)
    ]
    return mine, info["step_info"]


def _dp_accumulate(
    scalars: list[Tensor],
    others: list[Tensor],
    feats: list[Tensor],
    direction: list[Tensor],
    retain_graph: bool,
    reduce: Reduce,
    shared: Sequence[Tensor] = (),
) -> None:
    """Average over the ranks, then add to ``.grad``: the heads' ``∇ Σₜ Lₜ`` and, in features mode, the
    shared parameters' gradient from back-propagating ``direction`` from the features."""
    grads: list[Tensor | None] = []
    if others:
        keep = retain_graph or bool(feats)
        grads += torch.autograd.grad(scalars, others, retain_graph=keep, allow_unused=True)
    if feats:
        grads += torch.autograd.grad(
            feats, list(shared), grad_outputs=direction, retain_graph=retain_graph, allow_unused=True
        )
    _dp_grads_into(grads, [*others, *shared] if feats else others, reduce)


def _dp_grads_into(grads: Sequence[Tensor | None], params: Sequence[Tensor], reduce: Reduce) -> None:
    if not params:
        return
    dense = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
    for p, g in zip(params, reduce.mean(dense)):
        _accumulate(p, g)


# ---- partial labels: a step without the absent tasks --------------------------------------------
def _split_absent(losses: LossesLike) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """``({present task: loss}, all task names, absent task names)``; ``None`` marks an absent task."""
    if isinstance(losses, Tensor):
        return {}, [], []
    if isinstance(losses, Mapping):
        items = [(str(k), v) for k, v in losses.items()]
    else:
        items = [(str(i), v) for i, v in enumerate(losses)]
    absent = [k for k, v in items if v is None]
    if absent and len(absent) == len(items):
        raise ValueError(
            f"every task is absent from this step (no labelled sample for {absent}): nothing to "
            "back-propagate; skip the step"
        )
    return {k: v for k, v in items if v is not None}, [k for k, _ in items], absent


def _subset_backward(
    present: dict[str, Tensor],
    all_names: list[str],
    absent: list[str],
    method: Method,
    shared: Iterable[Tensor],
    features: Tensor | Sequence[Tensor] | None,
    retain_graph: bool,
    strategy: str,
    chunk_size: int | None,
    grad_scale: float | None = None,
) -> StepInfo:
    index = [all_names.index(name) for name in present]
    method.begin_subset(index, len(all_names), absent)
    try:
        info = backward(
            present,
            method,
            shared=shared,
            features=features,
            retain_graph=retain_graph,
            strategy=strategy,
            chunk_size=chunk_size,
            grad_scale=grad_scale,
        )
    finally:
        method.end_subset()
    info.absent = list(absent)
    return info


def _dp_refuse_absent(losses: LossesLike, reduce: Reduce) -> None:
    """Partial labels are not supported under data parallelism yet (a task's loss would have to average
    over its labelled samples of every rank): all ranks sum their absent-task flags and raise together."""
    if isinstance(losses, Tensor):
        return
    items = list(losses.items()) if isinstance(losses, Mapping) else list(enumerate(losses))
    flags = torch.tensor([float(v is None) for _, v in items], dtype=torch.float64)
    (total,) = reduce.sum([flags])
    missing = [str(k) for (k, _), f in zip(items, total.tolist()) if f > 0]
    if missing:
        raise ValueError(
            f"tasks {missing} have no labelled sample on some process in this step: partial labels are not "
            "supported under data parallelism yet (every process raises)"
        )
