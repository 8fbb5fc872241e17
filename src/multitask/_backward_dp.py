"""Data parallelism for :func:`multitask.backward` (DESIGN.md "Scale: one update, many processes"; issue 13).

The steps of :mod:`multitask._backward` call these when given a :class:`~multitask._backward_base.Reduce`:
the global losses and Jacobian (or Gramian) from collective operations, gradients averaged over the ranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from multitask._backward_base import (
    _GRAD_SCALE,
    GradientOverflowError,
    LossesLike,
    Reduce,
    StepInfo,
    _accumulate,
    _check_finite_losses,
    _check_shared_reached,
    _combine,
    _scaled,
)
from multitask.core import jacobian as jac
from multitask.core.graph import reachable_leaves
from multitask.methods.base import GradientMethod, LossWeighting


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


def _dp_refuse_absent(losses: LossesLike, reduce: Reduce) -> None:
    """Partial labels are not supported under data parallelism yet (a task's loss would have to average
    over its labelled samples of every rank): all ranks sum their absent-task flags and raise together."""
    if isinstance(losses, Tensor):
        return
    items = list(losses.items()) if isinstance(losses, Mapping) else list(enumerate(losses))
    device = next((v.device for _, v in items if isinstance(v, Tensor)), None)
    if device is None:  # every task absent here: the collective still runs (NCCL needs a CUDA tensor)
        device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else None
    flags = torch.tensor([float(v is None) for _, v in items], dtype=torch.float64, device=device)
    (total,) = reduce.sum([flags])
    missing = [str(k) for (k, _), f in zip(items, total.tolist()) if f > 0]
    if missing:
        raise ValueError(
            f"tasks {missing} have no labelled sample on some process in this step: partial labels are not "
            "supported under data parallelism yet (every process raises)"
        )
