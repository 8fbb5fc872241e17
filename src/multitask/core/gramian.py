"""Shared Gramian numerics: the one validator and the one working copy every Gramian method starts from.

* :func:`check_gramian` — validate a ``[T, T]`` (or batched ``[..., T, T]``) Gramian ``G = J Jᵀ``: a
  floating tensor, square, at least one task, all entries finite; errors name the caller.
* :func:`work_dtype` — the dtype solvers work in on a device: float64, or float32 on MPS (no float64).
* :func:`work_gramian` — the detached working copy of a Gramian in :func:`work_dtype`, symmetrised
  (``½(G + Gᵀ)``), so rounding in ``J Jᵀ`` cannot make it asymmetric.
* :func:`clip_weights` — scale weights so that the direction ``Jᵀw`` has norm at most ``max_norm``.
* :func:`normalized_work_gramian` — that copy divided by its largest diagonal entry (the squared norm of
  the longest task gradient), for methods whose answer does not depend on the gradients' scale.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_gramian", "clip_weights", "normalized_work_gramian", "work_dtype", "work_gramian"]


def check_gramian(gramian: Tensor, who: str = "", *, batched: bool = False) -> Tensor:
    """Validate a Gramian and return it unchanged.

    Args:
        gramian: ``[T, T]`` (``batched=False``) or ``[..., T, T]`` (``batched=True``) with ``T >= 1``.
        who: the caller's name, put in front of the error messages (e.g. ``"min_norm_weights"``).
        batched: accept leading batch dimensions.

    Raises:
        TypeError: not a tensor, or not floating point.
        ValueError: wrong shape, or non-finite entries.
    """
    prefix = f"{who}: " if who else ""
    if not isinstance(gramian, Tensor):
        raise TypeError(f"{prefix}the Gramian must be a torch.Tensor, got {type(gramian).__name__}")
    if not gramian.is_floating_point():
        raise TypeError(f"{prefix}the Gramian must be floating point, got {gramian.dtype}")
    square = gramian.dim() >= 2 and gramian.shape[-1] == gramian.shape[-2] and gramian.shape[-1] >= 1
    if not square or (not batched and gramian.dim() != 2):
        expected = "[..., T, T]" if batched else "[T, T]"
        raise ValueError(f"{prefix}the Gramian must have shape {expected}, got {tuple(gramian.shape)}")
    if not torch.isfinite(gramian).all():
        raise ValueError(f"{prefix}the Gramian has non-finite entries")
    return gramian


def work_dtype(device: torch.device) -> torch.dtype:
    """float64, or float32 on MPS (which has no float64): the dtype the solvers work in."""
    return torch.float32 if device.type == "mps" else torch.float64


def work_gramian(gramian: Tensor) -> Tensor:
    """Detached copy of ``gramian`` in :func:`work_dtype`, symmetrised over its last two dimensions."""
    work = gramian.detach().to(work_dtype(gramian.device))
    return 0.5 * (work + work.transpose(-1, -2))


def normalized_work_gramian(gramian: Tensor) -> tuple[Tensor, float]:
    """``(W / s, s)``: the :func:`work_gramian` ``W`` of a ``[T, T]`` Gramian over ``s = max(maxᵢ Wᵢᵢ, 0)``.

    When ``s`` is not positive (every task gradient is zero) ``W`` is returned undivided; callers branch on
    ``s`` first.
    """
    work = work_gramian(gramian)
    scale = float(work.diagonal().clamp_min(0.0).max())
    return (work / scale if scale > 0 else work), scale


def clip_weights(w: Tensor, gramian: Tensor, max_norm: float) -> Tensor:
    """Scale ``w`` so that ``‖Jᵀw‖ = √(wᵀGw) ≤ max_norm`` (``max_norm = 0``: unchanged)."""
    if max_norm <= 0:
        return w
    work = w.to(work_dtype(w.device))
    g = gramian.detach().to(work.dtype)
    norm = float((work @ g @ work).clamp_min(0.0).sqrt())
    if norm > max_norm:
        work = work * (max_norm / norm)
    return work.to(w.dtype)
