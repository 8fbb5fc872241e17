"""Alternating architecture search in the trainer: weights and architecture on two parts of the train split.

The search models (``model.architecture_parameters()`` not empty: AdaShare, Learning to Branch, BMTAS)
learn an architecture distribution next to the network weights. As the papers do, with
``search.alternate`` (default) the trainer holds out a fixed part of the training split
(``search.arch_fraction``, else the model's ``arch_fraction``; drawn once from ``train.seed``) and

* trains the weights on the rest, with the run's optimizer and balancing method; the architecture
  parameters are frozen there (``requires_grad`` off: they get no gradient from these batches, and a
  regularizer that depends on them only, such as AdaShare's policy losses or BMTAS's resource term, is
  left out of these steps, as the authors' code omits it from the weight loss);
* then, after each epoch's weight steps, makes one pass over the held-out part updating the architecture
  parameters only (their own Adam, ``search.arch_lr``) on the unweighted sum of the task losses plus the
  model's ``regularization()``.

The papers' schedules: AdaShare (Sun et al., NeurIPS 2020; code github.com/sunxm2357/AdaShare, train.py)
warms up on the whole training set, then alternates a pass of weight updates on ``train1`` with a pass of
policy updates on ``train2`` (two disjoint lists of the training images), policy Adam lr 0.01. BMTAS
(Bruggemann et al., BMVC 2020; code github.com/brdav/bmtas, main_search.py / tools.py) holds out 20 %
of the training images, and per epoch after its warm-up makes one architecture pass (Adam lr 0.01) and
one weight pass, the resource term in the architecture loss only. Learning to Branch (Guo et al., ICML
2020) alternates weight updates with updates of the branching distributions on held-out data, as DARTS
(the paper's description; no authors' code was found to check the split against). Here, as AdaShare,
the weight pass comes first; during a model's warm-up
(``model.architecture_learning`` False) the whole training split goes to the weights.

Not supported with ``search.alternate``: multi-input data (one dataset per task). Under ``fp16`` the
architecture step runs under autocast without a loss scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from multitask.train.loader import MultiInputSplit, held_out, search_order
from multitask.train.step import nonfinite, step_flags

if TYPE_CHECKING:
    from multitask.train.trainer import Trainer

__all__ = ["arch_step", "plan", "setup"]


def setup(tr: Trainer) -> None:
    """``tr.arch_params``, ``tr.arch_optimizer`` and ``tr.search_parts`` (``None``/empty: no alternation)."""
    s = tr.config.search
    tr.arch_params = list(tr.model.architecture_parameters()) if s.alternate else []
    tr.arch_optimizer, tr.search_parts = None, None
    if not tr.arch_params:
        return
    if isinstance(tr.splits["train"], MultiInputSplit):
        raise ValueError(
            f"model {tr.config.model.name!r} searches its architecture on held-out training batches "
            "(search.alternate), which multi-input data (one dataset per task) does not support yet; "
            "set search.alternate: false"
        )
    fraction = s.arch_fraction if s.arch_fraction is not None else float(tr.model.arch_fraction)
    tr.search_parts = held_out(len(tr.splits["train"]), fraction, tr.config.train.seed)
    for p in tr.arch_params:
        p.requires_grad_(False)  # frozen in the weight steps; arch_step thaws them
    tr.arch_optimizer = torch.optim.Adam(tr.arch_params, lr=s.arch_lr)


def plan(tr: Trainer, epoch: int) -> tuple[list[Any], list[bool]]:
    """The epoch's batches (index tensors) and, per batch, whether it is an architecture step."""
    if tr.search_parts is None or not tr.model.architecture_learning:
        order = tr._order(epoch)
        return order, [False] * len(order)
    t = tr.config.train
    weights, arch = search_order(
        tr.search_parts, tr.config.data.batch_size, t.seed, epoch, t.max_steps_per_epoch
    )
    return weights + arch, [False] * len(weights) + [True] * len(arch)


def arch_step(tr: Trainer, x: Any, targets: dict[str, Tensor]) -> None:
    """One update of the architecture parameters on a held-out batch (the weights get no gradient)."""
    sc, params = tr.scale, tr.arch_params
    assert tr.arch_optimizer is not None
    total_grads: list[Tensor] = [torch.zeros_like(p) for p in params]
    for p in params:
        p.requires_grad_(True)
    try:
        for xm, tm in sc.micro_batches(x, targets):
            with sc.autocast():
                losses, _ = tr._losses(xm, tm)
            losses = {t: v.float() for t, v in losses.items()}
            finite, present = step_flags(tr, losses, tm)
            if not finite:
                return nonfinite(tr, losses)
            terms = [v for v, ok in zip(losses.values(), present) if ok]
            regularization = tr.model.regularization()
            if regularization is not None:
                terms.append(regularization)
            if not terms:
                continue
            grads = torch.autograd.grad(
                torch.stack([v.reshape(()) for v in terms]).sum(), params, allow_unused=True
            )
            for acc, g in zip(total_grads, grads):
                if g is not None:
                    acc.add_(g.detach(), alpha=1.0 / sc.k)
    finally:
        for p in params:
            p.requires_grad_(False)
    if sc.reduce is not None:
        total_grads = sc.reduce.mean(total_grads)
    for p, g in zip(params, total_grads):
        p.grad = g
    tr.arch_optimizer.step()
    tr.arch_optimizer.zero_grad(set_to_none=True)
    return None
