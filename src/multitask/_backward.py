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

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from multitask._backward_base import (
    _GRAD_SCALE,
    GradientOverflowError,
    LossesLike,
    Reduce,
    StepInfo,
    _accumulate,
    _check_shared_reached,
    _combine,
    _scaled,
    _stack_losses,
    _unique,
)
from multitask._backward_dp import (
    _dp_accumulate,
    _dp_features_direction,
    _dp_loss_step,
    _dp_losses,
    _dp_refuse_absent,
)
from multitask._backward_partial import _split_absent, _subset_backward
from multitask.core import jacobian as jac
from multitask.core.graph import reachable_leaves, walk
from multitask.methods.base import GradientMethod, LossWeighting, Method

__all__ = ["GradientOverflowError", "Reduce", "StepInfo", "backward"]


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
            backward,
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
    # a gradient method's losses are checked with its Jacobian, in one device synchronisation (_combine)
    deferred = reduce is None and isinstance(method, GradientMethod)
    names, scalars, vec = _stack_losses(losses, check_finite=reduce is None and not deferred)
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
    info = _combine(names, vec, method, blocks, "parameters", check_losses=reduce is None)
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
    info = _combine(names, vec, method, blocks, "features", check_losses=True)
    direction = info.pop("direction")
    if others:
        torch.autograd.backward(scalars, inputs=others, retain_graph=True)
    scaled = [_scaled(d) for d in direction]
    torch.autograd.backward(feats, grad_tensors=scaled, inputs=shared, retain_graph=retain_graph)
    return info.pop("step_info")
