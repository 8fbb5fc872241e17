"""CAGrad's dual problem ``argmin_{w ∈ Δ} wᵀ G b + c √(bᵀ G b) √(wᵀ G w)`` (``b = 1/T``), solved exactly.

A one-dimensional root search whose inner problems are min-norm problems of shifted points
(:mod:`multitask.core.solvers.min_norm`). Scale-free and finite on degenerate Gramians like the min-norm
solver; works in float64 (float32 on MPS) and returns the input's dtype.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, work_gramian
from multitask.core.solvers.min_norm import _ZERO, _bordered, _finish, _wolfe, min_norm_weights

__all__ = ["conflict_averse_weights"]

# √φ (normalised units) below which the ball term is treated as 0: the objective then moves by less than
# 1e-13 of the largest gradient norm, while the root search's bracket [0, 1/√φ] no longer resolves in
# float64 (below about 1e-16 it returned a wrong vertex)
_TINY_C = 1e-13


def conflict_averse_weights(gramian: Tensor, c: float, *, max_iter: int = 100, tol: float = 1e-7) -> Tensor:
    """Solve CAGrad's dual problem ``min_{w ∈ Δ} g_wᵀ g₀ + √φ ‖g_w‖`` from the Gramian.

    With ``g_w = Jᵀw``, ``g₀ = Jᵀb`` (``b = 1/T``, the mean gradient) and ``√φ = c ‖g₀‖`` (Liu et al.,
    Conflict-Averse Gradient Descent, NeurIPS 2021, eq. (3)), the objective is
    ``F(w) = wᵀ G b + c √(bᵀ G b) √(wᵀ G w)``.

    Method: ``‖y‖ = min_{s>0} ‖y‖²/(2s) + s/2`` turns ``F`` into a problem jointly convex in ``(w, τ)``
    (``s = cτ√β``): for fixed ``τ > 0`` the minimiser over ``w`` is the min-norm point of the shifted
    vectors ``g_t + τ g₀`` (:func:`min_norm_weights` on ``G_τ = G + τ(a1ᵀ + 1aᵀ) + τ²β 11ᵀ`` with
    ``a = G b``, ``β = bᵀ G b``), and the optimal ``τ`` is the unique root of ``‖g_{w(τ)}‖ = c√β τ``
    (``‖g_{w(τ)}‖/τ`` is non-increasing). On a fixed active set ``w(τ)`` is affine in ``τ``, so each
    step solves that scalar equation exactly (a quadratic) and falls back to bisection when the active
    set changes; the answer is exact once the active set is found.

    Args:
        gramian: ``[T, T]`` (or batched ``[..., T, T]``) Gramian of the task gradients.
        c: CAGrad's ``c ≥ 0`` (paper default 0.4).
        max_iter: cap on the outer root-search iterations.
        tol: tolerance of the inner min-norm solves and of the root search (relative).

    Returns:
        weights ``[..., T]`` on the simplex (input dtype and device).
    """
    g = check_gramian(gramian, "conflict_averse_weights", batched=True)
    if not (isinstance(c, (int, float)) and math.isfinite(c) and c >= 0):
        raise ValueError(f"conflict_averse_weights: c must be a finite number >= 0, got {c!r}")
    if max_iter < 1:
        raise ValueError(f"conflict_averse_weights: max_iter must be >= 1, got {max_iter}")
    work = work_gramian(g)
    t = work.shape[-1]
    if t == 1:
        return torch.ones(work.shape[:-1], dtype=gramian.dtype, device=gramian.device)
    flat = work.reshape(-1, t, t)
    out = torch.stack([_cagrad_single(m, float(c), max_iter, tol) for m in flat])
    return out.reshape(work.shape[:-1]).to(gramian.dtype)


def _face_solve(bordered: Tensor, support: list[int]) -> Tensor | None:
    """Solve ``[G_SS 1; 1ᵀ 0][v; −μ] = [0; 1]`` (and ``= [r_S; 0]`` when ``r`` is bordered in).

    Returns ``v`` (``[k]``) or ``[k, 2]`` (columns: the affine min-norm weights of the face, and the
    response of the face's KKT solution to the linear term ``r``); ``None`` when the face is singular.
    """
    t = bordered.shape[0] - 1
    k = len(support)
    ix = torch.tensor([*support, t], device=bordered.device)
    m = bordered.index_select(0, ix)
    lhs = m.index_select(1, ix)
    if bordered.shape[1] == t + 1:
        rhs = torch.zeros(k + 1, 1, dtype=m.dtype, device=m.device)
        rhs[k] = 1.0
    else:
        rhs = torch.zeros(k + 1, 2, dtype=m.dtype, device=m.device)
        rhs[k, 0] = 1.0
        rhs[:k, 1] = m[:k, t + 1]
    sol, info = torch.linalg.solve_ex(lhs, rhs)
    if int(info) != 0 or not bool(torch.isfinite(sol).all()):
        return None
    return sol[:k, 0] if rhs.shape[1] == 1 else sol[:k]


def _cagrad_single(g_raw: Tensor, c: float, max_iter: int, tol: float) -> Tensor:
    t = g_raw.shape[0]
    scale = float(g_raw.diagonal().max())
    if scale <= _ZERO:
        return torch.full((t,), 1.0 / t, dtype=g_raw.dtype, device=g_raw.device)
    g = g_raw / scale
    b = torch.full((t,), 1.0 / t, dtype=g.dtype, device=g.device)
    a = g @ b
    beta = float(b @ a)
    cc = c * math.sqrt(max(beta, 0.0))  # √φ in the normalised units
    if beta <= 1e-14:  # g₀ = 0: CAGrad's objective is flat in its first term; take the min-norm point
        return _wolfe(g, 250, tol)[0]
    if cc <= _TINY_C:  # c = 0: minimise g_wᵀg₀, ties broken by the min-norm point of the minimisers
        return _argmin_linear(a, g, tol)
    bordered = _bordered(g, -a)
    shift = a[:, None] + a[None, :]
    faces: dict[tuple[int, ...], Tensor | None] = {}

    def face(support: list[int]) -> Tensor | None:
        key = tuple(sorted(support))
        if key not in faces:
            faces[key] = _face_solve(bordered, list(key))
        return faces[key]

    def inner(tau: float, warm: list[int] | None) -> tuple[Tensor, float, list[int]]:
        w, support = _wolfe(g + tau * shift + tau * tau * beta, 250, tol * 1e-3, warm)
        return w, math.sqrt(max(float(w @ (g @ w)), 0.0)), support

    lo, hi = 0.0, 1.0 / cc  # r(τ) = ‖g_w(τ)‖ − cc·τ is ≤ 0 at hi since ‖g_w‖ ≤ 1
    tau = 0.5 * hi
    w, norm, support = inner(tau, None)
    for _ in range(max_iter):
        r = norm - cc * tau
        if abs(r) <= 1e-13 * max(1.0, norm):
            break
        if r > 0:
            lo = tau
        else:
            hi = tau
        if hi - lo <= 1e-15 * hi or hi <= 1e-15 / cc:
            break
        new = _piece_root(g, face(support), support, cc)
        tau = new if new is not None and lo < new < hi else 0.5 * (lo + hi)
        w, norm, support = inner(tau, support)
    # polish: on the final active set the optimum solves a scalar quadratic exactly
    sol = face(support)
    root = _piece_root(g, sol, support, cc)
    if sol is not None and root is not None and abs(root - tau) <= 1e-6 * max(tau, 1e-300):
        pw = torch.zeros_like(w)
        pw[sorted(support)] = sol[:, 0] + root * sol[:, 1]
        if bool((pw >= -1e-12).all()):
            return _finish(pw)
    return w


def _argmin_linear(a: Tensor, g: Tensor, tol: float) -> Tensor:
    """``c = 0``: minimise ``aᵀw`` over Δ; ties are broken by the min-norm point of the minimisers."""
    amin = float(a.min())
    ties = (a <= amin + 1e-12 * max(1.0, abs(amin))).nonzero().flatten()
    w = torch.zeros_like(a)
    sub = g.index_select(0, ties).index_select(1, ties)
    w[ties] = min_norm_weights(sub, tol=tol)
    return w


def _piece_root(g: Tensor, sol: Tensor | None, support: list[int], cc: float) -> float | None:
    """Root of ``‖g_{w(τ)}‖² = cc² τ²`` where ``w(τ) = w⁰ + τ w¹`` is the KKT solution on a face."""
    if sol is None:
        return None
    idx = torch.tensor(sorted(support), device=g.device)
    gs = g.index_select(0, idx).index_select(1, idx)
    q = sol.T @ gs @ sol  # [[q0, q1], [q1, q2]]
    q0, q1, q2 = (float(x) for x in q.flatten()[[0, 1, 3]])
    # f(τ) = q0 + 2 q1 τ + (q2 − cc²) τ² crosses zero downwards at the wanted root
    qa, qb, qc = q2 - cc * cc, 2.0 * q1, q0
    roots: list[float] = []
    if abs(qa) <= 1e-14 * max(1.0, abs(qb), abs(qc)):
        if qb != 0.0:
            roots.append(-qc / qb)
    else:
        disc = qb * qb - 4.0 * qa * qc
        if disc >= 0.0:
            sq = math.sqrt(disc)
            # numerically stable pair of roots
            qq = -0.5 * (qb + math.copysign(sq, qb)) if qb != 0.0 else -0.5 * sq
            if qq != 0.0:
                roots.extend([qq / qa, qc / qq])
            else:
                roots.append(0.0)
    good = [r for r in roots if r > 0.0 and math.isfinite(r) and (2.0 * qa * r + qb) <= 1e-12]
    return min(good) if good else None
