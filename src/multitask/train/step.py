"""One training step of a :class:`~multitask.train.trainer.Trainer`: forward, ``multitask.backward``, update.

Per micro-batch: the task losses (autocast under mixed precision), one host synchronisation for the
finiteness and partial-label flags, the model's regularizer back-propagated as is, then the balanced
backward (or the accumulator); an fp16 overflow skips the step with the method's state restored.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from multitask._backward import GradientOverflowError, StepInfo, backward
from multitask.core.tasks import label_count
from multitask.distributed import all_finite

if TYPE_CHECKING:
    from multitask.train.trainer import Trainer

__all__ = ["NonFiniteLossError", "nonfinite", "regularize", "skip", "step_flags", "train_step"]


class NonFiniteLossError(ValueError):
    """A task loss became NaN or infinite."""


def train_step(tr: Trainer, x: Any, targets: dict[str, Tensor]) -> StepInfo | None:
    t0 = time.perf_counter()
    sc = tr.scale
    snapshot = sc.snapshot(tr.method)
    info = None
    try:
        for xm, tm in sc.micro_batches(x, targets):
            with sc.autocast():
                losses, features = tr._losses(xm, tm)
            if sc.precision != "fp32":
                losses = {t: v.float() for t, v in losses.items()}
            finite, present = step_flags(tr, losses, tm)  # the step's one host synchronisation
            if not finite:
                return nonfinite(tr, losses)
            if not any(present) and sc.reduce is None:  # no labelled sample of any task: skip
                tr.optimizer.zero_grad(set_to_none=True)
                return None
            tr.model.on_losses({t: v.detach() for t, v in losses.items()})  # e.g. routing rewards
            regularization = tr.model.regularization()
            # e.g. DSelect-k's gate entropy: added as is, not balanced; a search's policy losses depend on
            # its architecture parameters only, frozen in the weight steps (multitask.train.search)
            if regularization is not None and regularization.requires_grad:
                regularize(tr, regularization / sc.k)
            if sc.accumulator is not None:
                if not all(present):
                    raise ValueError(
                        "train.accumulate > 1 with tasks absent from a micro-batch (partial labels) is "
                        "not supported yet; use train.accumulate: 1"
                    )
                sc.accumulator.add(losses)
                continue
            # after the forward: a routing network's partition follows the routes of its last forward
            shared = tr.shared_parameters()
            # partial labels: a task without a labelled sample leaves this step's aggregation
            step_losses = {t: (v if ok else None) for (t, v), ok in zip(losses.items(), present)}
            if isinstance(xm, dict) and features is not None:  # multi-input: its features go too
                features = [z for z, ok in zip(features, present) if ok]
            info = backward(
                step_losses, tr.method, shared=shared, features=features, reduce=sc.reduce,
                grad_scale=sc.loss_scale(),
            )  # fmt: skip
        if sc.accumulator is not None:
            info = sc.accumulator.step()
    except GradientOverflowError:  # fp16: the scaled Jacobian overflowed, the method did not run
        sc.overflowed()
        return skip(tr, snapshot)
    if not sc.step(tr.optimizer):  # fp16: the scaler found an overflow in .grad
        return skip(tr, snapshot)
    tr.optimizer.zero_grad(set_to_none=True)
    tr.step_times.append(time.perf_counter() - t0)
    return info


def nonfinite(tr: Trainer, losses: dict[str, Tensor]) -> None:
    bad = [name for name, v in losses.items() if not torch.isfinite(v.detach()).all()]
    if tr.scale.accumulator is not None:
        tr.scale.accumulator.reset()
    if tr.config.train.nonfinite == "skip":
        tr.skipped_steps += 1
        tr.optimizer.zero_grad(set_to_none=True)
        return None
    where = f"task {bad[0]!r}" if bad else "a task on another process"
    raise NonFiniteLossError(
        f"non-finite loss for {where} at epoch {tr.epoch} step {tr.global_step} "
        f"(all bad tasks: {bad}); {tr._checkpoint_note()}"
    )


def skip(tr: Trainer, snapshot: dict[str, Any] | None) -> None:
    """An overflowed fp16 step: no update, the method's state as before the step, counted."""
    if snapshot is not None:
        tr.method.load_state_dict(snapshot)
    if tr.scale.accumulator is not None:
        tr.scale.accumulator.reset()
    tr.skipped_steps += 1
    tr.optimizer.zero_grad(set_to_none=True)
    return None


def regularize(tr: Trainer, regularization: Tensor) -> None:
    """Back-propagate a model's regularizer as is (averaged over the processes, scaled in fp16)."""
    scale = tr.scale.loss_scale() or 1.0
    if tr.scale.reduce is None:
        (regularization * scale).backward(retain_graph=True)
        return
    params = [p for p in tr.model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(regularization * scale, params, retain_graph=True, allow_unused=True)
    dense = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
    for p, g in zip(params, tr.scale.reduce.mean(dense)):
        p.grad = g if p.grad is None else p.grad + g


def step_flags(tr: Trainer, losses: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[bool, list[bool]]:
    """Whether every loss is finite (on every process), and per task whether the batch has a labelled
    sample of it (partial labels: a task without one is absent from the step's aggregation)."""
    vec = torch.stack([v.detach().reshape(()) for v in losses.values()])
    counts = torch.stack([label_count(task, targets[task.name]) for task in tr.tasks]).to(vec.device)
    if tr.scale.reduce is not None:  # the processes agree on finiteness (one collective)
        return all_finite(vec, tr.scale.reduce), [bool(c) for c in (counts > 0).tolist()]
    flags = [bool(f) for f in torch.cat([torch.isfinite(vec), counts > 0]).tolist()]
    return all(flags[: len(vec)]), flags[len(vec) :]
