"""The trainer's forward passes: task losses of a batch (single- or multi-input) and predictions.

Functions of a :class:`~multitask.train.trainer.Trainer` (its model, tasks, mode and method); a gradient
method with ``wraps_features`` (RotoGrad) gives each task head its own view of the representation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor

from multitask.methods.base import GradientMethod

if TYPE_CHECKING:
    from multitask.train.trainer import Trainer

__all__ = ["decode", "multi_input_losses", "predict", "task_losses", "wraps"]


def task_losses(tr: Trainer, x: Any, targets: dict[str, Tensor]) -> tuple[dict[str, Tensor], Any]:
    if isinstance(x, dict):
        return multi_input_losses(tr, x, targets)
    features = None
    if tr.mode == "features":
        features = tr.model.encode(x)
        preds = decode(tr, features)
    else:
        preds = tr.model(x)
    aux = tr.model.aux_outputs
    losses = {}
    for task in tr.tasks:
        loss = task.loss(preds[task.name], targets[task.name])
        for extra in aux.get(task.name, []):
            loss = loss + tr.config.train.aux_weight * task.loss(extra, targets[task.name])
        losses[task.name] = loss
    return losses, features


def multi_input_losses(
    tr: Trainer, xs: dict[str, Tensor], targets: dict[str, Tensor]
) -> tuple[dict[str, Tensor], list[Tensor] | None]:
    """Multi-input data: each task's loss on its own batch through the shared encoder and its head;
    in features mode one representation per task (``features`` in the order of the tasks)."""
    if wraps(tr):
        raise ValueError(
            f"method {tr.config.method.name!r} wraps the shared representation; with multi-input data "
            "(one representation per task) this is not supported"
        )
    losses, features = {}, []
    for task in tr.tasks:
        x = xs[task.name]
        if tr.mode == "features":
            z = tr.model.encode(x)
            features.append(z)
            pred = tr.model.decode(z)[task.name]
        else:
            pred = tr.model(x)[task.name]
        loss = task.loss(pred, targets[task.name])
        for extra in tr.model.aux_outputs.get(task.name, []):
            loss = loss + tr.config.train.aux_weight * task.loss(extra, targets[task.name])
        losses[task.name] = loss
    return losses, (features if tr.mode == "features" else None)


def wraps(tr: Trainer) -> bool:
    return isinstance(tr.method, GradientMethod) and tr.method.wraps_features


def decode(tr: Trainer, z: Any) -> dict[str, Tensor]:
    """The heads on the representation; a method that wraps it (RotoGrad) gives each task its view."""
    if not wraps(tr):
        return tr.model.decode(z)
    assert isinstance(tr.method, GradientMethod)
    views = tr.method.wrap_features(z)
    return {task.name: tr.model.decode(v)[task.name] for task, v in zip(tr.tasks, views)}


def predict(tr: Trainer, x: Any) -> dict[str, Tensor]:
    if isinstance(x, dict):  # multi-input: a single-task batch {task: x}
        ((name, xt),) = x.items()
        return {name: predict(tr, xt)[name]}
    if tr.mode == "features" and wraps(tr):
        return decode(tr, tr.model.encode(x))
    return tr.model(x)
