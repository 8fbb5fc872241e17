"""Lookahead inter-task affinity (TAG).

Fifty, Amid, Zhao, Yu, Anil, Finn. Efficiently Identifying Task Groupings for Multi-Task Learning.
NeurIPS 2021 ("Task Affinity Grouping", TAG).

At step ``t`` with shared parameters ``θ_s`` and task parameters ``θ_j``, take a lookahead step on task
``i``'s loss alone, updating only the shared parameters, and measure how much it lowered every task's
loss on the same batch ``X``:

    Z_{i→j} = 1 − L_j(X, θ_{s|i}, θ_j) / L_j(X, θ_s, θ_j).

``Z_{i→j} > 0``: a step on task ``i`` helps task ``j``; ``< 0``: it hurts it. The affinity of a run is the
mean over the steps at which it is measured, ``Ẑ_{i→j} = (1/N) Σ_t Z^t_{i→j}``, fed to the
network-selection search (:func:`multitask.affinity.grouping.select_groups`).

The lookahead step (``update``):

* ``"sgd"``: the paper's formula, ``θ_{s|i} = θ_s − η ∇_{θ_s} L_i`` with ``η`` given (or each parameter's
  learning rate in ``optimizer``);
* ``"optimizer"``: the training optimizer's own update for the gradient ``∇_{θ_s} L_i`` (momentum
  buffer, weight decay, Adam's direction and bias correction; :mod:`._optimizer_step`), its state read
  and left untouched, as the official code intends (its CelebA notebook steps with the Keras momentum
  buffer, ``θ + μ v − η g``, a plain step at the first iteration; its Taskonomy patch adds the weight
  decay but looks the momentum buffer up in the param group, where it never is, so it steps without
  momentum);
* ``"auto"`` (default): ``"optimizer"`` when an optimizer is passed, else ``"sgd"``.

``scale="lr"`` divides ``Z`` by the learning rate as the official code does (``(1 − L'/L) / η``): with a
decaying schedule it weights late steps more in the mean; ``scale="none"`` (default) is the paper's
``Z``. When to measure: the official README averages the affinities over joint training, computed
every 10 steps (``LookaheadAffinity(every=10)`` and :meth:`LookaheadAffinity.step` each training
step, before ``optimizer.step()``); its CelebA notebook measures at every step of training.

The losses must be positive (the ratio is undefined otherwise). The lookahead parameters are fed to
the unchanged module with ``torch.func.functional_call`` (no model copies per task): one forward with
graph, one engine Jacobian pass for the ``T`` shared-parameter gradients, then ``T`` forwards without
graph. Buffers (batch-norm statistics) are cloned for these forwards so the model is not modified, and
every forward starts from the same RNG state so dropout masks agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from multitask.affinity._matrix import AffinityAccumulator, TaskAffinity
from multitask.affinity._optimizer_step import optimizer_update, param_group_of
from multitask.core import jacobian as jac
from multitask.models.base import MultiTaskModel

TaskLossFn = Callable[[Any, Any], Tensor]

__all__ = ["LookaheadAffinity", "lookahead_affinity"]

UPDATES = ("auto", "sgd", "optimizer")
SCALES = ("none", "lr")


def lookahead_affinity(
    model: nn.Module,
    loss_fns: Mapping[str, TaskLossFn] | None,
    batch: Any,
    shared_names: Sequence[str] | None,
    lr: float | None = None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    update: str = "auto",
    scale: str = "none",
    strategy: str = "auto",
) -> TaskAffinity:
    """``Z_{i→j}`` of Fifty et al. (2021) for one batch: ``matrix[i, j] = 1 − L_j(θ_{s|i}) / L_j(θ_s)``
    (divided by the learning rate with ``scale="lr"``).

    Args:
        model: the multi-task network (not modified; its train/eval mode is kept).
        loss_fns: ``{task: fn(outputs, targets) -> scalar loss}`` where ``outputs = model(x)``; for a
            :class:`~multitask.models.base.MultiTaskModel` ``None`` means ``task.loss(outputs[t],
            targets[t])`` for each of its tasks.
        batch: ``(x, targets)``.
        shared_names: names (as in ``model.named_parameters()``) of the shared parameters ``θ_s``;
            ``None`` for a MultiTaskModel means those of ``model.shared_parameters()``.
        lr: the learning rate ``η`` (> 0) of ``update="sgd"``; ``None`` with an optimizer: each shared
            parameter's own. Not accepted with ``update="optimizer"`` (the optimizer's own is used).
        optimizer: the training optimizer (SGD, Adam, AdamW for ``update="optimizer"``); read only.
        update: ``"auto"``, ``"sgd"`` or ``"optimizer"`` (see the module docstring).
        scale: ``"none"`` (the paper's ``Z``) or ``"lr"`` (``Z / η`` as in the official code; needs one
            learning rate for all shared parameters).
        strategy: Jacobian strategy of the engine.
    """
    fns = _resolve_loss_fns(model, loss_fns)
    names = _resolve_shared(model, shared_names)
    update, rates, scale_lr = _resolve_update(model, names, lr, optimizer, update, scale)
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError("lookahead_affinity: batch must be an (x, targets) pair")
    x, targets = batch
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    devices = _cuda_indices(params.values())

    def forward(p: dict[str, Tensor]) -> Any:
        with torch.random.fork_rng(devices=devices):
            return functional_call(model, ({**params, **p}, {k: b.clone() for k, b in buffers.items()}), (x,))

    tasks = list(fns)
    outputs = forward({})
    base = torch.stack([_scalar(fns[t](outputs, targets), t).double() for t in tasks])
    before = base.detach().to(torch.float64)
    bad = [t for t, v in zip(tasks, before.tolist()) if not v > 0]
    if bad:
        raise ValueError(
            f"lookahead affinity needs positive finite losses; task(s) {bad} have {before.tolist()} "
            "(the ratio L_j(θ_s|i) / L_j(θ_s) is undefined)"
        )
    shared = [params[n] for n in names]
    blocks = jac.jacobian_blocks(base, shared, strategy=strategy)
    after = torch.empty(len(tasks), len(tasks), dtype=torch.float64)
    with torch.no_grad():
        for i in range(len(tasks)):
            if update == "sgd":
                stepped = {n: p - rate * block[i] for n, p, rate, block in zip(names, shared, rates, blocks)}
            else:
                assert optimizer is not None
                stepped = {
                    n: p
                    - optimizer_update(optimizer, p, block[i].to(p.dtype), param_group_of(optimizer, p, n))
                    for n, p, block in zip(names, shared, blocks)
                }
            out_i = forward(stepped)
            for j, t in enumerate(tasks):
                after[i, j] = float(_scalar(fns[t](out_i, targets), t))
    if not torch.isfinite(after).all():
        i, j = map(int, torch.nonzero(~torch.isfinite(after))[0])
        raise ValueError(
            f"lookahead affinity: the loss of task {tasks[j]!r} after a step on task {tasks[i]!r} "
            f"({update} update) is not finite (lower the learning rate)"
        )
    matrix = 1.0 - after / before.unsqueeze(0)
    if scale_lr is not None:
        matrix = matrix / scale_lr
    return TaskAffinity(tuple(tasks), matrix, 1, "lookahead")


class LookaheadAffinity:
    """Accumulates the TAG lookahead affinity ``Ẑ_{i→j}`` over training steps (Fifty et al. 2021).

    Call :meth:`step` with each training batch, before ``optimizer.step()``: it measures ``Z`` on every
    ``every``-th call (the 1st, the ``every + 1``-th, ...; the official README measures every 10 steps
    throughout joint training), or :meth:`update` to measure on a given batch; then :meth:`compute`
    for the mean.

    Args:
        every: measure on every ``every``-th call of :meth:`step` (an int ≥ 1).

    The other parameters (``model``, ``loss_fns``, ``shared_names``, ``lr``, ``optimizer``, ``update``,
    ``scale``, ``strategy``) are those of :func:`lookahead_affinity` (``lr`` may be omitted when an
    optimizer is given).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fns: Mapping[str, TaskLossFn] | None = None,
        shared_names: Sequence[str] | None = None,
        *,
        lr: float | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        update: str = "auto",
        scale: str = "none",
        every: int = 1,
        strategy: str = "auto",
    ) -> None:
        self.model = model
        self.loss_fns = _resolve_loss_fns(model, loss_fns)
        self.shared_names = _resolve_shared(model, shared_names)
        _resolve_update(model, self.shared_names, lr, optimizer, update, scale)  # fail early
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"LookaheadAffinity: every must be an int >= 1, got {every!r}")
        self.lr = lr
        self.optimizer = optimizer
        self.update_rule = update
        self.scale = scale
        self.every = every
        self.strategy = strategy
        self.calls = 0
        self.accumulator = AffinityAccumulator(list(self.loss_fns), "lookahead")

    def update(self, batch: Any, lr: float | None = None) -> TaskAffinity:
        """Measure ``Z`` on ``batch`` (``lr`` overriding the stored one for ``update="sgd"``), add it to
        the mean and return this step's affinity."""
        step = lookahead_affinity(
            self.model,
            self.loss_fns,
            batch,
            self.shared_names,
            self.lr if lr is None else lr,
            optimizer=self.optimizer,
            update=self.update_rule,
            scale=self.scale,
            strategy=self.strategy,
        )
        self.accumulator.update(step.matrix)
        return step

    def step(self, batch: Any) -> TaskAffinity | None:
        """Count one training step; measure on it when it is due (returns ``None`` otherwise)."""
        due = self.calls % self.every == 0
        self.calls += 1
        return self.update(batch) if due else None

    def compute(self) -> TaskAffinity:
        return self.accumulator.compute()

    def reset(self) -> None:
        self.accumulator.reset()
        self.calls = 0

    @property
    def num_steps(self) -> int:
        return self.accumulator.count

    def state_dict(self) -> dict[str, Any]:
        return {**self.accumulator.state_dict(), "calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.accumulator.load_state_dict(state)
        self.calls = int(state.get("calls", 0))


# ---- helpers ---------------------------------------------------------------------------------
def _resolve_loss_fns(model: nn.Module, loss_fns: Mapping[str, TaskLossFn] | None) -> dict[str, TaskLossFn]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"lookahead affinity needs an nn.Module, got {type(model).__name__}")
    if loss_fns is None:
        if not isinstance(model, MultiTaskModel):
            raise ValueError("lookahead affinity: pass loss_fns {task: fn(outputs, targets)} for this model")

        def default(task: Any) -> TaskLossFn:
            return lambda outputs, targets: task.loss(outputs[task.name], targets[task.name])

        return {t.name: default(t) for t in model.tasks}
    if not isinstance(loss_fns, Mapping) or not loss_fns:
        raise TypeError("lookahead affinity: loss_fns must be a non-empty {task: callable} mapping")
    for name, fn in loss_fns.items():
        if not callable(fn):
            raise TypeError(f"lookahead affinity: the loss of task {name!r} is not callable")
    return {str(k): v for k, v in loss_fns.items()}


def _resolve_shared(model: nn.Module, shared_names: Sequence[str] | None) -> list[str]:
    params = dict(model.named_parameters())
    if shared_names is None:
        if not isinstance(model, MultiTaskModel):
            raise ValueError("lookahead affinity: pass shared_names (the shared parameters' names)")
        ids = {id(p) for p in model.shared_parameters()}
        names = [n for n, p in params.items() if id(p) in ids]
    else:
        if isinstance(shared_names, str):
            raise TypeError("lookahead affinity: shared_names must be a list of names, not one string")
        names = list(dict.fromkeys(shared_names))
        unknown = [n for n in names if n not in params]
        if unknown:
            raise ValueError(f"lookahead affinity: unknown shared parameter names {unknown}")
    if not names:
        raise ValueError("lookahead affinity: the model has no shared parameters")
    frozen = [n for n in names if not params[n].requires_grad]
    if frozen:
        raise ValueError(f"lookahead affinity: shared parameters {frozen} do not require grad")
    return names


def _resolve_update(
    model: nn.Module,
    names: list[str],
    lr: float | None,
    optimizer: torch.optim.Optimizer | None,
    update: str,
    scale: str,
) -> tuple[str, list[float], float | None]:
    """The update rule, the per-parameter SGD rates and the divisor of ``scale="lr"`` (or ``None``)."""
    if update not in UPDATES:
        raise ValueError(f"lookahead affinity: update must be one of {UPDATES}, got {update!r}")
    if scale not in SCALES:
        raise ValueError(f"lookahead affinity: scale must be one of {SCALES}, got {scale!r}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"lookahead affinity: optimizer must be a torch optimizer, got {type(optimizer).__name__}"
        )
    if update == "auto":
        update = "optimizer" if optimizer is not None else "sgd"
    params = dict(model.named_parameters())
    if update == "optimizer":
        if optimizer is None:
            raise ValueError("lookahead affinity: update='optimizer' needs the training optimizer")
        if lr is not None:
            raise ValueError(
                "lookahead affinity: update='optimizer' steps with the optimizer's own learning rate; "
                "do not pass lr (or use update='sgd')"
            )
    if lr is not None:
        rates = [_check_lr(lr)] * len(names)
    elif optimizer is not None:
        rates = [_check_lr(_as_float(param_group_of(optimizer, params[n], n)["lr"])) for n in names]
    else:
        raise ValueError("lookahead affinity: pass lr (the lookahead SGD learning rate) or the optimizer")
    divisor = None
    if scale == "lr":
        if len(set(rates)) != 1:
            raise ValueError(
                f"lookahead affinity: scale='lr' needs one learning rate for all shared parameters, "
                f"got {sorted(set(rates))}"
            )
        divisor = rates[0]
    return update, rates, divisor


def _as_float(value: Any) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def _check_lr(lr: float) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 or lr == float("inf"):
        raise ValueError(f"lookahead affinity: lr must be a positive finite number, got {lr!r}")
    return float(lr)


def _scalar(loss: Any, task: str) -> Tensor:
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(
            f"lookahead affinity: the loss of task {task!r} must be a scalar tensor, got {shape}"
        )
    return loss.reshape(())


def _cuda_indices(params: Any) -> list[int]:
    return sorted({p.device.index or 0 for p in params if p.device.type == "cuda"})
