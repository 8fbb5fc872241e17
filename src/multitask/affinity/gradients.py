"""Gradient-similarity task affinity: the mean cosine between task gradients on the shared weights.

For a batch with task losses ``L_1 … L_T`` and shared parameters ``θ_s`` the engine forms the per-task
gradients ``g_t = ∇_{θ_s} L_t`` block by block (:func:`~multitask.core.jacobian.jacobian_blocks`) and
their Gramian ``G = J Jᵀ`` (:func:`~multitask.core.jacobian.gramian_from_blocks`); the affinity is

    A_ij = (1/N) Σ_batches  G_ij / (‖g_i‖ ‖g_j‖)        (0 where a gradient is zero; A_ii = 1)

Positive cosines mean the tasks pull the shared weights the same way; negative, they conflict. This is
the gradient-alignment signal used to group tasks by e.g. Yu et al., Gradient Surgery for Multi-Task
Learning, NeurIPS 2020 (conflict = negative cosine) and compared against lookahead affinity by Fifty,
Amid, Zhao, Yu, Anil, Finn, Efficiently Identifying Task Groupings for Multi-Task Learning, NeurIPS 2021.

:func:`affinity_from_log` reads the same quantity back from a finished run: the trainer writes the
per-step cosines ``cos/<a>/<b>`` of every gradient method step to ``steps.csv``.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from multitask.affinity._matrix import AffinityAccumulator, TaskAffinity
from multitask.core import jacobian as jac
from multitask.models.base import MultiTaskModel

LossFn = Callable[[Any], Mapping[str, Tensor]]

__all__ = ["affinity_from_log", "gradient_affinity", "task_gradient_cosines"]


def task_gradient_cosines(
    losses: Mapping[str, Tensor] | Sequence[Tensor],
    inputs: Sequence[Tensor],
    *,
    strategy: str = "auto",
    chunk_size: int | None = None,
) -> Tensor:
    """``[T, T]`` cosines of the task gradients w.r.t. ``inputs`` (diagonal 1, 0 for a zero gradient).

    Uses one Jacobian pass of the engine; ``.grad`` of nothing is touched.
    """
    names, vec = _stack(losses)
    inputs = list(inputs)
    if not inputs:
        raise ValueError("gradient affinity needs at least one shared tensor to differentiate against")
    for i, p in enumerate(inputs):
        if not isinstance(p, Tensor) or not p.requires_grad:
            raise ValueError(f"shared tensor #{i} must be a tensor that requires grad")
    blocks = jac.jacobian_blocks(vec, inputs, strategy=strategy, chunk_size=chunk_size)
    bad = [names[t] for t in range(len(names)) if not all(torch.isfinite(b[t]).all() for b in blocks)]
    if bad:
        raise ValueError(f"non-finite gradients for tasks {bad}")
    gram = jac.gramian_from_blocks(blocks).to(torch.float64)
    gram = (gram + gram.T) / 2  # exact symmetry despite float32 accumulation
    norms = gram.diagonal().clamp_min(0).sqrt()
    denom = torch.outer(norms, norms)
    cos = torch.where(denom > 0, gram / denom.clamp_min(torch.finfo(gram.dtype).tiny), torch.zeros_like(gram))
    cos = cos.clamp(-1.0, 1.0)
    cos.fill_diagonal_(1.0)
    return cos.detach().cpu()


def gradient_affinity(
    model_or_fn: MultiTaskModel | LossFn,
    batches: Iterable[Any],
    shared: Iterable[Tensor] | None = None,
    *,
    mode: str = "parameters",
    weights_only: bool = False,
    strategy: str = "auto",
    chunk_size: int | None = None,
) -> TaskAffinity:
    """Mean task-gradient cosine matrix over ``batches`` (see the module docstring for the formula).

    Args:
        model_or_fn: a :class:`~multitask.models.base.MultiTaskModel` (each batch is ``(x, targets)``
            and task ``t``'s loss is ``task.loss(model(x)[t], targets[t])``), or a callable
            ``fn(batch) -> {task: scalar loss}``.
        batches: an iterable of batches (e.g. a ``DataLoader``; a few batches suffice).
        shared: the shared tensors the gradients are taken against. Default for a model: its
            ``shared_parameters()`` (parameters mode); required for a callable.
        mode: ``"parameters"`` or ``"features"`` (a model with ``encode``/``decode``: gradients w.r.t.
            the shared representation ``z = model.encode(x)``, as in features mode of ``backward``).
        weights_only: parameters mode: keep only the shared tensors with two or more dimensions
            (weight matrices and kernels; biases and normalisation scales dropped), as TAG's official
            CelebA code computes its cosine-similarity baseline.
        strategy: Jacobian strategy (``"auto"``, ``"loop"``, ``"batched"``).
        chunk_size: rows per batched VJP.

    The model's train/eval mode is left as it is; ``.grad`` is not touched.
    """
    if mode not in ("parameters", "features"):
        raise ValueError(f"gradient_affinity: mode must be 'parameters' or 'features', got {mode!r}")
    is_model = isinstance(model_or_fn, MultiTaskModel)
    if not is_model and not callable(model_or_fn):
        raise TypeError(
            f"gradient_affinity: expected a MultiTaskModel or a callable batch -> losses, "
            f"got {type(model_or_fn).__name__}"
        )
    if mode == "features" and not (is_model and model_or_fn.has_shared_representation):
        raise ValueError(
            "gradient_affinity: features mode needs a MultiTaskModel with a shared representation "
            "(has_shared_representation = True)"
        )
    if shared is None and mode == "parameters":
        if not is_model:
            raise ValueError("gradient_affinity: pass `shared` (the shared parameters) with a loss callable")
        shared = model_or_fn.shared_parameters()
    shared_list = None if shared is None else list(shared)
    if weights_only:
        if mode != "parameters" or shared_list is None:
            raise ValueError("gradient_affinity: weights_only applies to parameters mode only")
        shared_list = [p for p in shared_list if isinstance(p, Tensor) and p.dim() > 1]
        if not shared_list:
            raise ValueError("gradient_affinity: weights_only left no shared tensor with 2+ dimensions")
    acc: AffinityAccumulator | None = None
    for b, batch in enumerate(batches):
        if is_model:
            losses, feats = _model_losses(model_or_fn, batch, mode, b)
        else:
            losses, feats = model_or_fn(batch), None
            if not isinstance(losses, Mapping):
                raise TypeError(
                    f"the loss callable must return a {{task: loss}} dict, got {type(losses).__name__}"
                )
        inputs = feats if mode == "features" else shared_list
        cos = task_gradient_cosines(losses, inputs, strategy=strategy, chunk_size=chunk_size)
        names = [str(k) for k in losses]
        if acc is None:
            acc = AffinityAccumulator(names, "gradient_cosine")
        elif tuple(names) != acc.task_names:
            raise ValueError(f"batch {b}: tasks {names} differ from the first batch's {list(acc.task_names)}")
        acc.update(cos)
    if acc is None:
        raise ValueError("gradient_affinity: `batches` is empty")
    return acc.compute()


def affinity_from_log(steps_csv_path: str | os.PathLike[str], *, start_step: int = 0) -> TaskAffinity:
    """Mean task-gradient cosines from a trainer's ``steps.csv`` (columns ``cos/<a>/<b>``).

    Task names and their order come from the ``loss/<task>`` columns. Rows without cosines (steps of a
    loss weighting, which computes no Jacobian) are skipped; ``start_step`` skips rows whose ``step``
    column is below it (e.g. a warm-up).

    Raises:
        ValueError: naming the file when it has no ``loss/`` or ``cos/`` columns, a pair's column is
            missing, a row holds only some of the cosines, a value is not a finite number, or no row
            is left to average.
    """
    path = Path(steps_csv_path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    names = [c[len("loss/") :] for c in columns if c.startswith("loss/")]
    if not names:
        raise ValueError(f"{path}: no 'loss/<task>' columns; is this a trainer steps.csv?")
    if not any(c.startswith("cos/") for c in columns):
        raise ValueError(
            f"{path}: no 'cos/<a>/<b>' columns; the run used a loss weighting (no task-gradient cosines)"
        )
    t = len(names)
    pairs = [(i, j, f"cos/{names[i]}/{names[j]}") for i in range(t) for j in range(i + 1, t)]
    missing = [c for _, _, c in pairs if c not in columns]
    if missing:
        raise ValueError(f"{path}: missing cosine columns {missing}")
    if start_step and "step" not in columns:
        raise ValueError(f"{path}: start_step={start_step} given but the file has no 'step' column")
    acc = AffinityAccumulator(names, "gradient_cosine")
    for r, row in enumerate(rows, start=2):  # line 1 is the header
        if start_step and _number(row["step"], path, r, "step") < start_step:
            continue
        cells = [row.get(c) or "" for _, _, c in pairs]
        if all(cell == "" for cell in cells):
            continue
        if any(cell == "" for cell in cells):
            raise ValueError(f"{path}, line {r}: only some of the cos/ columns have values")
        cos = torch.eye(len(names), dtype=torch.float64)
        for (i, j, column), cell in zip(pairs, cells):
            cos[i, j] = cos[j, i] = _number(cell, path, r, column)
        acc.update(cos)
    if acc.count == 0:
        raise ValueError(f"{path}: no row with task-gradient cosines (after start_step={start_step})")
    return acc.compute()


# ---- helpers ---------------------------------------------------------------------------------
def _model_losses(
    model: MultiTaskModel, batch: Any, mode: str, b: int
) -> tuple[dict[str, Tensor], list[Tensor] | None]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2 or not isinstance(batch[1], Mapping):
        raise TypeError(f"batch {b}: a model's batches must be (x, {{task: target}}) pairs")
    x, targets = batch
    device = _device_of(model)
    if isinstance(x, Tensor):
        x = x.to(device)
    feats = None
    if mode == "features":
        z = model.encode(x)
        feats = [z] if isinstance(z, Tensor) else list(z)
        preds = model.decode(z)
    else:
        preds = model(x)
    losses = {}
    for task in model.tasks:
        if task.name not in targets:
            raise ValueError(f"batch {b}: no target for task {task.name!r}")
        target = targets[task.name]
        if isinstance(target, Tensor):
            target = target.to(device)
        losses[task.name] = task.loss(preds[task.name], target)
    return losses, feats


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _stack(losses: Mapping[str, Tensor] | Sequence[Tensor]) -> tuple[list[str], Tensor]:
    if isinstance(losses, Mapping):
        names, values = [str(k) for k in losses], list(losses.values())
    else:
        values = list(losses)
        names = [str(i) for i in range(len(values))]
    if not values:
        raise ValueError("gradient affinity: no task losses given")
    for name, v in zip(names, values):
        if not isinstance(v, Tensor):
            raise TypeError(f"the loss of task {name!r} must be a tensor, got {type(v).__name__}")
        if v.numel() != 1:
            raise ValueError(f"the loss of task {name!r} must be a scalar, got shape {tuple(v.shape)}")
        if not v.requires_grad:
            raise ValueError(f"the loss of task {name!r} does not require grad (no graph to differentiate)")
        if not torch.isfinite(v.detach()).all():
            raise ValueError(f"the loss of task {name!r} is not finite: {v.item()}")
    dtype = values[0].dtype
    for v in values[1:]:
        dtype = torch.promote_types(dtype, v.dtype)
    return names, torch.stack([v.reshape(()).to(dtype) for v in values])


def _number(cell: str | None, path: Path, line: int, column: str) -> float:
    try:
        value = float(cell)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{path}, line {line}: column {column!r} is not a number: {cell!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}, line {line}: column {column!r} is not finite: {cell!r}")
    return value
