"""Exact proximal operators and projections used by the classical MTL solvers.

All functions work on numpy arrays and never modify their input. ``W`` is d x T (one column per task):
*rows* are features, *columns* are tasks. ``t`` is the prox step times the regularisation strength,
i.e. ``prox_f(V, t) = argmin_X ½‖X − V‖²_F + t·f(X)``.

=========================== ================================================ ==========================
function                    solves                                           closed form
=========================== ================================================ ==========================
``prox_l1``                 ½‖X−V‖² + t‖X‖₁                                  soft threshold
``prox_l21_rows``           ½‖X−V‖² + t Σᵢ ‖Xᵢ,:‖₂  (row / feature groups)   row shrinkage
``prox_l21_cols``           ½‖X−V‖² + t Σⱼ ‖X:,ⱼ‖₂  (column / task groups)   column shrinkage
``prox_trace``              ½‖X−V‖² + t‖X‖_*                                 singular-value threshold
``prox_l1inf_rows``         ½‖X−V‖² + t Σᵢ ‖Xᵢ,:‖_∞                         V − Π_{‖·‖₁≤t}(V) per row
``project_l1_ball``         min ‖x−v‖ s.t. ‖x‖₁ ≤ r                          Duchi et al. 2008 sort
``project_trace_ball``      min ‖X−V‖_F s.t. ‖X‖_* ≤ r                       ℓ₁-ball on singular values
``project_cmtl_eigen``      min ‖m−λ‖ s.t. 0 ≤ m ≤ 1, Σm = k                 shift θ by bisection
``project_cmtl``            the same on a symmetric matrix M (eigenvalues)   eigh + ``project_cmtl_eigen``
=========================== ================================================ ==========================

The ℓ₁,∞ prox uses Moreau's decomposition: the conjugate of t‖·‖_∞ is the indicator of the ℓ₁ ball of
radius t, so ``prox_{t‖·‖∞}(v) = v − Π_{B₁(t)}(v)``.

The row-separable ones (``prox_l1``, ``prox_l21_rows``, ``prox_l1inf_rows``, and ``project_l1_ball`` on a
matrix of rows) also take one ``t`` per row, an array of shape (d, 1): ``t_i`` for row i. That is the prox
in a diagonal metric that weighs each feature row (``argmin_X Σᵢ ½dᵢ‖Xᵢ − Vᵢ‖² + N(X)`` is the per-row
prox at ``tᵢ = 1/dᵢ``), which the preconditioned solver of :mod:`multitask.classic._fista` uses
(:attr:`Regulariser.rows`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]

__all__ = [
    "Regulariser",
    "L1",
    "L21_ROWS",
    "L21_COLS",
    "TRACE",
    "L1INF_ROWS",
    "TRACE_BALL",
    "l1_norm",
    "l21_norm",
    "col_group_norm",
    "nuclear_norm",
    "l1inf_norm",
    "prox_l1",
    "prox_l21_rows",
    "prox_l21_cols",
    "prox_trace",
    "prox_l1inf_rows",
    "project_l1_ball",
    "project_trace_ball",
    "project_cmtl_eigen",
    "project_cmtl",
]


def _check_t(t: float | ArrayLike, name: str = "t") -> None:
    if np.any(np.asarray(t) < 0):
        raise ValueError(f"{name} must be non-negative, got {t!r}")


def _row_t(t: float | ArrayLike, V: Array) -> float | Array:
    """``t`` as a float, or as a (d, 1) array of per-row values for the d x T matrix V."""
    if np.ndim(t) == 0:
        return float(t)
    t = np.asarray(t, dtype=float)
    if t.size != V.shape[0]:
        raise ValueError(f"per-row t must have one value per row ({V.shape[0]}), got shape {t.shape}")
    return t.reshape(-1, 1)


def _check_matrix(V: ArrayLike, t: float, who: str, t_name: str = "t") -> Array:
    """Check ``t`` >= 0 and return V as a float 2-D array (the ValueError names the function ``who``)."""
    _check_t(t, t_name)
    V = np.asarray(V, dtype=float)
    if V.ndim != 2:
        raise ValueError(f"{who} expects a 2-D matrix, got shape {V.shape}")
    return V


def l1_norm(W: Array) -> float:
    """‖W‖₁ = Σ |Wᵢₜ|."""
    return float(np.abs(W).sum())


def l21_norm(W: Array) -> float:
    """‖W‖₂,₁ = Σᵢ ‖Wᵢ,:‖₂ (feature rows), the norm of :func:`prox_l21_rows`."""
    return float(np.sqrt((W * W).sum(axis=1)).sum())


def col_group_norm(W: Array) -> float:
    """Σₜ ‖W:,ₜ‖₂ (task columns), the norm of :func:`prox_l21_cols`."""
    return float(np.sqrt((W * W).sum(axis=0)).sum())


def nuclear_norm(W: Array) -> float:
    """‖W‖_* = the sum of the singular values, the norm of :func:`prox_trace`."""
    return float(np.linalg.svd(W, compute_uv=False).sum()) if W.size else 0.0


def l1inf_norm(W: Array) -> float:
    """‖W‖₁,∞ = Σᵢ maxₜ |Wᵢₜ| (feature rows), the norm of :func:`prox_l1inf_rows`."""
    return float(np.abs(W).max(axis=1).sum()) if W.size else 0.0


def prox_l1(V: ArrayLike, t: float | ArrayLike) -> Array:
    """Soft thresholding: ``sign(V) · max(|V| − t, 0)`` (``t`` may broadcast against ``V``)."""
    _check_t(t)
    V = np.asarray(V, dtype=float)
    return np.sign(V) * np.maximum(np.abs(V) - t, 0.0)


def _group_shrink(V: Array, t: float | Array, axis: int) -> Array:
    norms = np.sqrt(np.sum(V * V, axis=axis, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norms > t, 1.0 - t / np.where(norms > 0, norms, 1.0), 0.0)
    return V * scale


def prox_l21_rows(V: ArrayLike, t: float | ArrayLike) -> Array:
    """Row-group shrinkage ``Xᵢ = max(0, 1 − tᵢ/‖Vᵢ‖₂) Vᵢ`` (prox of t‖X‖₂,₁, rows = features; ``t`` a
    scalar or one per row, shape (d, 1))."""
    V = _check_matrix(V, t, "prox_l21_rows")
    return _group_shrink(V, _row_t(t, V), axis=1)


def prox_l21_cols(V: ArrayLike, t: float) -> Array:
    """Column-group shrinkage ``X:,ⱼ = max(0, 1 − t/‖V:,ⱼ‖₂) V:,ⱼ`` (prox of t‖Xᵀ‖₂,₁, columns = tasks)."""
    V = _check_matrix(V, t, "prox_l21_cols")
    return _group_shrink(V, float(t), axis=0)


#: matrices with both sides at least this long try a partial SVD in :func:`prox_trace` first
PARTIAL_SVD_MIN = 200


def prox_trace(V: ArrayLike, t: float) -> Array:
    """Singular-value thresholding ``U diag(max(σ − t, 0)) Vᵀ`` (prox of t‖X‖_*; Cai, Candès, Shen 2010).

    Only the singular values above ``t`` matter. For a matrix with both sides ≥ ``PARTIAL_SVD_MIN`` the
    leading ``k`` singular triplets are computed with ARPACK (``scipy.sparse.linalg.svds``, to machine
    precision, deterministic start vector), ``k`` = 8, 16, ... until the smallest one found is ≤ ``t``
    (all that survive the threshold are then known, as in the partial-SVD proximal methods of Toh & Yun
    2010); when the surviving rank reaches half the smaller side the full SVD is used instead.
    """
    V = _check_matrix(V, t, "prox_trace")
    if min(V.shape) >= PARTIAL_SVD_MIN:
        low = _prox_trace_partial(V, float(t))
        if low is not None:
            return low
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    s = np.maximum(s - t, 0.0)
    keep = s > 0
    return (U[:, keep] * s[keep]) @ Vt[keep]


def _prox_trace_partial(V: Array, t: float) -> Array | None:
    """:func:`prox_trace` from the leading singular triplets, or None when the rank above ``t`` is high."""
    from scipy.sparse.linalg import svds

    k, limit = 8, min(V.shape) // 2
    start = np.full(min(V.shape), 1.0 / np.sqrt(min(V.shape)))
    while k <= limit:
        U, s, Vt = svds(V, k=k, tol=0, v0=start)
        if s.min() <= t:
            s = np.maximum(s - t, 0.0)
            keep = s > 0
            return (U[:, keep] * s[keep]) @ Vt[keep]
        k *= 2
    return None


def project_l1_ball(v: ArrayLike, r: float | ArrayLike) -> Array:
    """Euclidean projection onto ``{x : ‖x‖₁ ≤ r}``; a 2-D input is projected row by row (``r`` a scalar
    or one radius per row).

    Duchi, Shalev-Shwartz, Singer, Chandra. Efficient projections onto the ℓ1-ball for learning in high
    dimensions. ICML 2008: ``x = sign(v) max(|v| − θ, 0)`` with θ from the sorted magnitudes
    (θ = 0 when v is already inside the ball).
    """
    _check_t(r, "r")
    v = np.asarray(v, dtype=float)
    if v.ndim not in (1, 2):
        raise ValueError(f"project_l1_ball expects a vector or a matrix of rows, got shape {v.shape}")
    V = np.atleast_2d(v)
    if np.ndim(r) and np.size(r) != V.shape[0]:
        raise ValueError(
            f"project_l1_ball: one radius per row ({V.shape[0]}) or a scalar, got shape {np.shape(r)}"
        )
    radius = np.broadcast_to(np.asarray(r, dtype=float).ravel(), (V.shape[0],))
    A = np.abs(V)
    out = V.copy()
    outside = A.sum(axis=1) > radius
    if np.any(outside):
        Ao, ro = A[outside], radius[outside]
        u = -np.sort(-Ao, axis=1)
        css = np.cumsum(u, axis=1) - ro[:, None]
        j = np.arange(1, u.shape[1] + 1)
        cond = u - css / j > 0
        rho = u.shape[1] - 1 - np.argmax(cond[:, ::-1], axis=1)  # last index where cond holds
        theta = css[np.arange(u.shape[0]), rho] / (rho + 1)
        theta = np.where(ro > 0, theta, np.inf)  # radius 0: the ball is {0}
        out[outside] = np.sign(V[outside]) * np.maximum(Ao - theta[:, None], 0.0)
    return out[0] if v.ndim == 1 else out


def prox_l1inf_rows(V: ArrayLike, t: float | ArrayLike) -> Array:
    """Prox of ``t Σᵢ ‖Xᵢ,:‖_∞`` (the ℓ₁,∞ norm over feature rows): ``V − Π_{‖·‖₁ ≤ tᵢ}(Vᵢ)`` row-wise
    (``t`` a scalar or one per row)."""
    V = _check_matrix(V, t, "prox_l1inf_rows")
    t = _row_t(t, V)
    return V - project_l1_ball(V, t if np.ndim(t) == 0 else t.ravel())


def project_trace_ball(V: ArrayLike, r: float) -> Array:
    """Projection onto the nuclear-norm ball ``{X : ‖X‖_* ≤ r}``: project the singular values onto the
    ℓ₁ ball of radius r (they are non-negative, so they stay so)."""
    V = _check_matrix(V, r, "project_trace_ball", "r")
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    if s.sum() <= r:
        return V.copy()
    s = project_l1_ball(s, r)
    return (U * s) @ Vt


def project_cmtl_eigen(eigvals: ArrayLike, k: float, *, tol: float = 1e-13, max_iter: int = 200) -> Array:
    """Project a vector of eigenvalues onto ``{m : 0 ≤ mᵢ ≤ 1, Σᵢ mᵢ = k}``.

    The set of the CMTL / cASO relaxation (Zhou, Chen, Ye, NeurIPS 2011; Chen, Tang, Liu, Ye, ICML 2009):
    ``mᵢ = clip(λᵢ − θ, 0, 1)`` with the shift θ making ``Σ mᵢ = k``. θ is found by bisection on the
    non-increasing map θ ↦ Σ clip(λᵢ − θ, 0, 1), then made exact on the free set (0 < mᵢ < 1).

    Args:
        eigvals: the eigenvalues λ (1-D).
        k: the trace, ``0 ≤ k ≤ len(λ)``.
    """
    lam = np.asarray(eigvals, dtype=float)
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError(f"project_cmtl_eigen expects a non-empty 1-D vector, got shape {lam.shape}")
    if not np.all(np.isfinite(lam)):
        raise ValueError("project_cmtl_eigen: eigvals must be finite")
    k = float(k)
    n = lam.size
    if not 0.0 <= k <= n:
        raise ValueError(f"project_cmtl_eigen: k must lie in [0, {n}], got {k}")

    def total(theta: float) -> float:
        return float(np.clip(lam - theta, 0.0, 1.0).sum())

    lo, hi = float(lam.min()) - 1.0, float(lam.max())  # total(lo) = n >= k >= 0 = total(hi)
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        if total(mid) > k:
            lo = mid
        else:
            hi = mid
        if hi - lo <= tol * max(1.0, abs(lo), abs(hi)):
            break
    theta = 0.5 * (lo + hi)
    m = np.clip(lam - theta, 0.0, 1.0)
    free = (lam - theta > 0.0) & (lam - theta < 1.0)
    if np.any(free):  # exact θ on the free set: Σ_free (λ − θ) + #{m = 1} = k
        n_one = np.count_nonzero(lam - theta >= 1.0)
        theta_exact = (lam[free].sum() + n_one - k) / np.count_nonzero(free)
        m_exact = np.clip(lam - theta_exact, 0.0, 1.0)
        if abs(m_exact.sum() - k) <= abs(m.sum() - k):
            m = m_exact
    return m


def project_cmtl(M: ArrayLike, k: float) -> Array:
    """Project a symmetric matrix onto ``{M : 0 ⪯ M ⪯ I, tr M = k}`` (eigen-decomposition + eigenvalue
    projection :func:`project_cmtl_eigen`)."""
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"project_cmtl expects a square matrix, got shape {M.shape}")
    lam, U = np.linalg.eigh(0.5 * (M + M.T))
    m = project_cmtl_eigen(lam, k)
    return (U * m) @ U.T


@dataclass(frozen=True)
class Regulariser:
    """A norm with its prox, ``prox(V, t) = argmin_X ½‖X − V‖² + t·value(X)``, and its dual norm; or, with
    ``value=None``, the indicator of the ball of that norm whose radius is the strength: ``prox(V, radius)``
    projects onto it and ``dual`` is the dual norm of the ball's norm (its support function per unit
    radius). The dual norms give the duality gap of :mod:`multitask.classic._prox_gradient`. ``rows``: the
norm is a sum of functions of the feature rows and ``prox(V, t)`` accepts ``t`` of shape (d, 1), one
step per row (the prox in a diagonal feature metric)."""

    value: Callable[[Array], float] | None
    prox: Callable[[ArrayLike, float], Array]
    dual: Callable[[Array], float]
    rows: bool = False  # the norm is a sum over feature rows and ``prox`` takes one t per row, (d, 1)


def _spectral_norm(Z: Array) -> float:
    return float(np.linalg.norm(Z, 2)) if Z.size else 0.0


def _max_abs(Z: Array) -> float:
    return float(np.abs(Z).max()) if Z.size else 0.0


def _max_row_norm(Z: Array) -> float:
    return float(np.sqrt((Z * Z).sum(axis=1)).max()) if Z.size else 0.0


def _max_col_norm(Z: Array) -> float:
    return float(np.sqrt((Z * Z).sum(axis=0)).max()) if Z.size else 0.0


def _max_row_l1(Z: Array) -> float:
    return float(np.abs(Z).sum(axis=1).max()) if Z.size else 0.0


L1 = Regulariser(l1_norm, prox_l1, _max_abs, rows=True)
L21_ROWS = Regulariser(l21_norm, prox_l21_rows, _max_row_norm, rows=True)
L21_COLS = Regulariser(col_group_norm, prox_l21_cols, _max_col_norm)
TRACE = Regulariser(nuclear_norm, prox_trace, _spectral_norm)
L1INF_ROWS = Regulariser(l1inf_norm, prox_l1inf_rows, _max_row_l1, rows=True)
TRACE_BALL = Regulariser(None, project_trace_ball, _spectral_norm)
