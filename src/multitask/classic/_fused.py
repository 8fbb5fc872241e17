"""Exact proximal operators of fused (total-variation) penalties along the task axis.

Used by the temporal multi-task models (:mod:`multitask.classic.tgl`, :mod:`multitask.classic.cfgl`),
where the tasks are ordered in time and consecutive weight vectors are encouraged to be close.

* :func:`prox_tv1d` — ``argmin_x ½‖x − y‖² + λ Σₖ |x_{k+1} − x_k|``, Condat's direct algorithm
  (L. Condat, "A Direct Algorithm for 1-D Total Variation Denoising", IEEE Signal Processing Letters,
  2013): exact, O(n) in practice.
* :func:`prox_fused_sparse_group_rows` — the proximal operator of the convex fused sparse group lasso
  penalty applied row by row to a d x T matrix,
  ``λ₁‖w‖₁ + λ₂ Σₜ |w_{t+1} − w_t| + λ₃‖w‖₂``, computed exactly as the composition
  group-shrink ∘ soft-threshold ∘ TV-prox (Friedman, Hastie, Höfling, Tibshirani, Ann. Appl. Stat. 2007
  for the fused lasso part; Zhou, Liu, Narayan, Ye, KDD 2012, Theorem 1 for the group part).
"""

from __future__ import annotations

import numpy as np


def prox_tv1d(y: np.ndarray, lam: float) -> np.ndarray:
    """Exact 1-D total-variation denoising ``argmin_x ½‖x − y‖² + lam · Σ |x_{k+1} − x_k|``.

    Condat's direct (taut-string-free) algorithm; ``lam = 0`` returns a copy of ``y``.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"prox_tv1d expects a 1-D array, got shape {y.shape}")
    if lam < 0:
        raise ValueError(f"prox_tv1d: lam must be >= 0, got {lam}")
    n = y.shape[0]
    if n == 0:
        return np.empty(0)
    if lam == 0 or n == 1:
        return y.copy()
    out = np.empty(n)
    # the scan runs on Python floats and lists (numpy scalar indexing and arithmetic cost several times more)
    y, x, lam = y.tolist(), [0.0] * n, float(lam)
    k = k0 = kplus = kminus = 0
    umin, umax = lam, -lam
    vmin, vmax = y[0] - lam, y[0] + lam
    while True:
        while k == n - 1:
            if umin < 0.0:
                x[k0 : kminus + 1] = [vmin] * (kminus + 1 - k0)
                k0 = kminus + 1
                k = kminus = k0
                vmin = y[k]
                umin = lam
                umax = vmin + umin - vmax
            elif umax > 0.0:
                x[k0 : kplus + 1] = [vmax] * (kplus + 1 - k0)
                k0 = kplus + 1
                k = kplus = k0
                vmax = y[k]
                umax = -lam
                umin = vmax + umax - vmin
            else:
                vmin += umin / (k - k0 + 1)
                x[k0 : k + 1] = [vmin] * (k + 1 - k0)
                out[:] = x
                return out
        umin += y[k + 1] - vmin
        if umin < -lam:
            x[k0 : kminus + 1] = [vmin] * (kminus + 1 - k0)
            k0 = kminus + 1
            k = kplus = kminus = k0
            vmin = y[k]
            vmax = vmin + 2.0 * lam
            umin, umax = lam, -lam
            continue
        umax += y[k + 1] - vmax
        if umax > lam:
            x[k0 : kplus + 1] = [vmax] * (kplus + 1 - k0)
            k0 = kplus + 1
            k = kplus = kminus = k0
            vmax = y[k]
            vmin = vmax - 2.0 * lam
            umin, umax = lam, -lam
            continue
        k += 1
        if umin >= lam:
            kminus = k
            vmin += (umin - lam) / (kminus - k0 + 1)
            umin = lam
        if umax <= -lam:
            kplus = k
            vmax += (umax + lam) / (kplus - k0 + 1)
            umax = -lam


def fused_penalty_rows(W: np.ndarray) -> float:
    """``Σᵢ Σₜ |W[i, t+1] − W[i, t]|`` — the fused (ℓ1 of consecutive differences) norm ``‖WR‖₁``."""
    return float(np.abs(np.diff(W, axis=1)).sum())


def prox_fused_sparse_group_rows(
    V: np.ndarray, lam1: float | np.ndarray, lam2: float | np.ndarray, lam3: float | np.ndarray
) -> np.ndarray:
    """Row-wise prox of ``lam1‖w‖₁ + lam2 Σₜ|w_{t+1} − w_t| + lam3‖w‖₂`` for each row ``w`` of ``V``.

    Exact: first the fused-lasso prox (TV prox, then soft-threshold by ``lam1``), then the row's group
    shrinkage ``max(0, 1 − lam3/‖w‖₂) w``. Each strength is a float or one value per row (shape (d,) or
    (d, 1)), the prox in a diagonal feature metric.
    """
    V = np.asarray(V, dtype=float)
    if V.ndim != 2:
        raise ValueError(f"prox_fused_sparse_group_rows expects a 2-D array, got shape {V.shape}")
    d = V.shape[0]
    lams = []
    for name, lam in (("lam1", lam1), ("lam2", lam2), ("lam3", lam3)):
        lam = np.asarray(lam, dtype=float)
        if lam.ndim and lam.size != d:
            raise ValueError(f"prox_fused_sparse_group_rows: {name} must be a float or one per row ({d})")
        if np.any(lam < 0):
            raise ValueError(f"prox strengths must be >= 0, got {(lam1, lam2, lam3)}")
        lams.append(np.broadcast_to(lam.ravel(), (d,)) if lam.ndim else np.full(d, float(lam)))
    l1, l2, l3 = lams
    out = V.copy()
    if np.any(l2 > 0):
        for i in range(d):
            if l2[i] > 0:
                out[i] = prox_tv1d(V[i], float(l2[i]))
    out = np.sign(out) * np.maximum(np.abs(out) - l1[:, None], 0.0)
    if np.any(l3 > 0):
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        t3 = l3[:, None]
        scale = np.where(norms > t3, 1.0 - t3 / np.where(norms > 0, norms, 1.0), 0.0)
        out = out * scale
    return out
