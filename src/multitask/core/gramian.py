"""Shared Gramian numerics: the one validator and the one working copy every Gramian method starts from.

* :func:`check_gramian` — validate a ``[T, T]`` (or batched ``[..., T, T]``) Gramian ``G = J Jᵀ``: a
  floating tensor, square, at least one task, all entries finite; errors name the caller.
* :func:`work_dtype` — the dtype solvers work in on a device: float64, or float32 on MPS (no float64).
* :func:`work_gramian` — the detached working copy of a Gramian in :func:`work_dtype`, symmetrised
  (``½(G + Gᵀ)``), so rounding in ``J Jᵀ`` cannot make it asymmetric.
* :func:`clip_weights` — scale weights so that the direction ``Jᵀw`` has norm at most ``max_norm``.
* :func:`normalized_work_gramian` — that copy divided by its largest diagonal entry (the squared norm of
  the longest task gradient), for methods whose answer does not depend on the gradients' scale.
* :func:`to_host` / :func:`to_device` — the Gramian methods' round trip to the host: the ``T × T`` Gramian
  (and the loss vector, and finiteness flags) leave the accelerator in ONE copy, the solver runs on the
  host, and its ``[T]`` weights go back in one copy that does not block the host.

Why the host: a Gramian is tiny (``T²`` numbers) but its solvers (active sets, Newton, Wolfe, root
searches) branch on values dozens of times per step. On a GPU every such branch (``.item()``, ``float()``,
``bool()``, ``.tolist()``, a boolean mask, ``nonzero``) is a host synchronisation that drains the kernel
queue; solved on the host they cost nothing. :meth:`multitask.methods.base.GradientMethod.combine_blocks`
therefore hands every ``needs = "gramian"`` method a host Gramian: one device→host copy per step (shared
with the engine's finiteness check) and one non-blocking host→device copy of the weights.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "check_gramian",
    "clip_weights",
    "normalized_work_gramian",
    "to_device",
    "to_host",
    "work_dtype",
    "work_gramian",
]


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


def to_host(*tensors: Tensor | None) -> list[Tensor | None]:
    """The given small tensors on the host, read from an accelerator in one copy (one synchronisation).

    Tensors already on the CPU (and ``None``) are returned as they are, so on a CPU this is free and the
    results are bit-identical to working on the inputs. The others are detached, flattened and packed into
    one buffer of their promoted dtype (which holds each of them exactly: bool flags, float16/bfloat16,
    float32 and float64), copied once per device, then unpacked into their own dtypes and shapes.

    Args:
        tensors: floating or bool tensors (a Gramian, a loss vector, finiteness flags), or ``None``.

    Returns:
        the tensors in the same order, on the CPU.
    """
    out: list[Tensor | None] = list(tensors)
    groups: dict[torch.device, list[int]] = {}
    for i, x in enumerate(tensors):
        if x is None or x.device.type == "cpu":
            continue
        if not (x.is_floating_point() or x.dtype == torch.bool):
            raise TypeError(f"to_host: only floating or bool tensors can be packed, got {x.dtype}")
        groups.setdefault(x.device, []).append(i)
    for idx in groups.values():
        parts = [tensors[i] for i in idx]
        dtype = torch.float32
        for x in parts:
            if x.is_floating_point():  # type: ignore[union-attr]
                dtype = torch.promote_types(dtype, x.dtype)  # type: ignore[union-attr]
        flat = torch.cat([x.detach().reshape(-1).to(dtype) for x in parts])  # type: ignore[union-attr]
        host = flat.cpu()  # the one device→host copy
        offset = 0
        for i, x in zip(idx, parts):
            n = x.numel()  # type: ignore[union-attr]
            out[i] = host[offset : offset + n].to(x.dtype).reshape(x.shape)  # type: ignore[union-attr]
            offset += n
    return out


def to_device(x: Tensor, device: torch.device) -> Tensor:
    """``x`` on ``device`` without blocking the host: a CUDA copy is staged through pinned memory and
    queued asynchronously (a plain pageable copy synchronises the stream); same device: ``x`` itself."""
    if x.device == device:
        return x
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)
