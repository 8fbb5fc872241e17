"""The min-norm point of a convex hull, from the Gramian of its vertices (MGDA's sub-problem).

:func:`min_norm_weights` solves ``argmin_{w ∈ Δ} wᵀ G w``: closed form for ``T <= 2``, Wolfe's exact
active-set algorithm otherwise. The Gramian is first divided by its largest diagonal entry, so the answer
does not depend on the scale of the gradients (1e-8 .. 1e8 give the same weights), and degenerate inputs
(zero, rank-1, duplicated or collinear gradients) give finite weights. Works in float64 (float32 on MPS)
and returns the input's dtype. :func:`_wolfe` and :func:`_bordered` are shared with
:mod:`multitask.core.solvers.conflict_averse`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, work_gramian

__all__ = ["min_norm_weights"]

# relative thresholds (after the Gramian is normalised so that its largest diagonal entry is 1)
_ZERO = 1e-20  # a Gramian whose largest diagonal entry is below this (absolute) is treated as zero
_ACTIVE = 1e-12  # weights below this are dropped from the active set


def min_norm_weights(gramian: Tensor, *, max_iter: int = 250, tol: float = 1e-7) -> Tensor:
    """Weights of the min-norm point of the convex hull of ``T`` vectors, given only their Gramian.

    Solves ``min_{w ∈ Δ} wᵀ G w`` (``G = J Jᵀ``, ``Δ`` the probability simplex), the sub-problem of MGDA
    (Sener & Koltun, NeurIPS 2018). ``T = 1``: ``w = (1)``. ``T = 2``: the closed form of Sener & Koltun,
    ``γ = clip((G₂₂ − G₁₂) / (G₁₁ + G₂₂ − 2 G₁₂), 0, 1)``, ``w = (γ, 1 − γ)``. ``T > 2``: Wolfe's
    min-norm-point algorithm (Wolfe, Math. Programming 1976), an exact active-set method: it ends when the
    Frank–Wolfe gap ``xᵀx − min_t xᵀg_t`` is at most ``tol · max_t ‖g_t‖²``, and the weights on the final
    active set solve its KKT system exactly.

    Args:
        gramian: ``[T, T]`` or batched ``[..., T, T]`` symmetric positive semi-definite matrix.
        max_iter: cap on Wolfe's major iterations (each adds one vector to the active set).
        tol: relative stopping tolerance on the Frank–Wolfe gap.

    Returns:
        weights ``[..., T]`` on the simplex, in the input's dtype and device.
    """
    g = check_gramian(gramian, "min_norm_weights", batched=True)
    if max_iter < 1:
        raise ValueError(f"min_norm_weights: max_iter must be >= 1, got {max_iter}")
    if not tol > 0:
        raise ValueError(f"min_norm_weights: tol must be > 0, got {tol}")
    work = work_gramian(g)
    t = work.shape[-1]
    if t == 1:
        return torch.ones(work.shape[:-1], dtype=gramian.dtype, device=gramian.device)
    if t == 2:
        return _two_task(work).to(gramian.dtype)
    flat = work.reshape(-1, t, t)
    out = torch.stack([_wolfe(m, max_iter, tol)[0] for m in flat])
    return out.reshape(work.shape[:-1]).to(gramian.dtype)


def _two_task(g: Tensor) -> Tensor:
    g11, g22, g12 = g[..., 0, 0], g[..., 1, 1], g[..., 0, 1]
    den = g11 + g22 - 2.0 * g12
    scale = torch.maximum(g11, g22)
    ok = den > 1e-12 * scale
    safe = torch.where(ok, den, torch.ones_like(den))
    gamma = torch.where(ok, (g22 - g12) / safe, torch.full_like(den, 0.5))
    gamma = gamma.clamp(0.0, 1.0)
    return torch.stack([gamma, 1.0 - gamma], dim=-1)


def _bordered(g: Tensor, lin: Tensor | None = None) -> Tensor:
    """``[[G, 1, r], [1ᵀ, 0, 0]]``: the bordered KKT matrix of every face at once (``r`` optional)."""
    t = g.shape[0]
    extra = 0 if lin is None else 1
    b = g.new_ones(t + 1, t + 1 + extra)
    b[:t, :t] = g
    b[t, t:] = 0.0
    if lin is not None:
        b[:t, t + 1] = lin
    return b


def _face_weights(bordered: np.ndarray, support: list[int]) -> list[float] | None:
    """The affine min-norm weights of a face (``[[G_SS, 1], [1ᵀ, 0]] [v; −μ] = [0; 1]``); ``None`` if
    singular or not finite."""
    t = bordered.shape[0] - 1
    ix = [*support, t]
    rhs = np.zeros(len(ix))
    rhs[-1] = 1.0
    try:
        sol = np.linalg.solve(bordered[np.ix_(ix, ix)], rhs)
    except np.linalg.LinAlgError:
        return None
    values = sol[:-1]
    if not np.all(np.isfinite(values)):
        return None
    return values.tolist()


def _wolfe(
    gram: Tensor, max_iter: int, tol: float, warm: list[int] | None = None
) -> tuple[Tensor, list[int]]:
    """Wolfe's min-norm-point algorithm on one ``[T, T]`` Gramian; returns ``(w, active set)``.

    Runs in numpy on a host copy (one read of the ``T × T`` Gramian; the Gramian methods hand their
    solvers a host Gramian anyway, :func:`multitask.core.gramian.to_host`): each major iteration is a
    mat-vec and a small face solve, which cost several times more as torch dispatches.
    ``warm``: an active set to start from (used when a sequence of related problems is solved).
    """
    t = gram.shape[0]
    host = gram.detach().cpu().numpy().astype(np.float64, copy=False)
    back = dict(dtype=gram.dtype, device=gram.device)
    diag = np.diagonal(host)
    scale = float(diag.max())
    if scale <= _ZERO:
        return torch.full((t,), 1.0 / t, **back), list(range(t))
    g = host / scale
    bordered = np.ones((t + 1, t + 1))
    bordered[:t, :t] = g
    bordered[t, t] = 0.0
    support: list[int] = []
    weights: list[float] = []
    if warm:
        v = _face_weights(bordered, warm)
        if v is not None and min(v) > _ACTIVE:
            support, weights = list(warm), v
    if not support:
        support, weights = [int(np.argmin(diag))], [1.0]

    def dense(sup: list[int], wts: list[float]) -> np.ndarray:
        full = np.zeros(t)
        full[sup] = wts
        return full

    w = dense(support, weights)
    for _ in range(max_iter):
        gw = g @ w
        xx = float(w @ gw)
        j = int(np.argmin(gw))
        if xx - float(gw[j]) <= tol or j in support:
            break
        support = [*support, j]
        weights = [*weights, 0.0]
        for _minor in range(t + 1):
            v = _face_weights(bordered, support)
            if v is None:  # numerically affinely dependent: drop the newcomer and stop
                return _finish(torch.as_tensor(w).to(**back)), support[:-1]
            if min(v) > _ACTIVE:
                weights = v
                break
            # move from the current weights towards v until the first weight hits zero
            theta = min(a / (a - b) if a > b else 0.0 for a, b in zip(weights, v) if b <= _ACTIVE)
            theta = min(max(theta, 0.0), 1.0)
            moved = [a + theta * (b - a) for a, b in zip(weights, v)]
            keep = [x > _ACTIVE for x in moved]
            if all(keep):  # numerical corner: remove the smallest weight explicitly
                keep[min(range(len(moved)), key=moved.__getitem__)] = False
            support = [s for s, k in zip(support, keep) if k]
            kept = [x for x, k in zip(moved, keep) if k]
            total = sum(kept)
            weights = [x / total for x in kept]
        w = dense(support, weights)
    return _finish(torch.as_tensor(w).to(**back)), support


def _finish(w: Tensor) -> Tensor:
    w = w.clamp_min(0.0)
    return w / w.sum()
