"""Small convex solvers used by the gradient methods (torch only, on the input's device).

* :func:`project_simplex` — Euclidean projection onto the probability simplex (batched, last dim).
* :func:`min_norm_weights` — the min-norm point of the convex hull of ``T`` vectors, from their Gramian:
  ``argmin_{w ∈ Δ} wᵀ G w`` (closed form for ``T <= 2``, Wolfe's exact active-set algorithm otherwise).
* :func:`conflict_averse_weights` — the CAGrad sub-problem
  ``argmin_{w ∈ Δ} wᵀ G b + c √(wᵀ G w)`` with ``b = 1/T`` and ``c = α ‖g₀‖``, solved exactly by a
  one-dimensional root search whose inner problems are min-norm problems of shifted points.

All of them accept float32 and float64, work internally in float64 (float32 on devices without float64
support) and return the input's dtype. Gramians are first divided by their largest diagonal entry, so
answers do not depend on the scale of the gradients (1e-8 .. 1e8 give the same weights), and degenerate
inputs (zero, rank-1, duplicated or collinear gradients) give finite weights.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["conflict_averse_weights", "min_norm_weights", "project_simplex"]

# relative thresholds (after the Gramian is normalised so that its largest diagonal entry is 1)
_ZERO = 1e-20  # a Gramian whose largest diagonal entry is below this (absolute) is treated as zero
_ACTIVE = 1e-12  # weights below this are dropped from the active set


def project_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of ``v`` onto the probability simplex along the last dimension.

    ``argmin_{w ≥ 0, Σw = 1} ‖w − v‖²`` by the sort-based rule of Held, Wolfe & Crowder (1974) /
    Duchi et al. (ICML 2008): with ``u`` sorted decreasingly, ``ρ = max{j : u_j − (Σ_{i≤j} u_i − 1)/j > 0}``
    and ``θ = (Σ_{i≤ρ} u_i − 1)/ρ``, the projection is ``max(v − θ, 0)``. Works on any batch shape.
    """
    if not isinstance(v, Tensor):
        raise TypeError(f"project_simplex: expected a torch.Tensor, got {type(v).__name__}")
    if not v.is_floating_point():
        raise TypeError(f"project_simplex: expected a floating tensor, got {v.dtype}")
    if v.dim() == 0 or v.shape[-1] == 0:
        raise ValueError(f"project_simplex: need a non-empty last dimension, got shape {tuple(v.shape)}")
    if not torch.isfinite(v).all():
        raise ValueError("project_simplex: the input has non-finite entries")
    n = v.shape[-1]
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(dim=-1) - 1.0
    idx = torch.arange(1, n + 1, device=v.device, dtype=v.dtype)
    cond = (u - css / idx) > 0
    # ρ: the last index where cond holds (cond holds for a prefix; index 0 always qualifies)
    rho = (cond.to(torch.long) * torch.arange(n, device=v.device)).amax(dim=-1, keepdim=True)
    theta = css.gather(-1, rho) / (rho + 1).to(v.dtype)
    return (v - theta).clamp_min(0.0)


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
    g = _check_gramian(gramian, "min_norm_weights")
    if max_iter < 1:
        raise ValueError(f"min_norm_weights: max_iter must be >= 1, got {max_iter}")
    if not tol > 0:
        raise ValueError(f"min_norm_weights: tol must be > 0, got {tol}")
    work = _to_work(g)
    t = work.shape[-1]
    if t == 1:
        return torch.ones(work.shape[:-1], dtype=gramian.dtype, device=gramian.device)
    if t == 2:
        return _two_task(work).to(gramian.dtype)
    flat = work.reshape(-1, t, t)
    out = torch.stack([_wolfe(m, max_iter, tol)[0] for m in flat])
    return out.reshape(work.shape[:-1]).to(gramian.dtype)


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
    g = _check_gramian(gramian, "conflict_averse_weights")
    if not (isinstance(c, (int, float)) and math.isfinite(c) and c >= 0):
        raise ValueError(f"conflict_averse_weights: c must be a finite number >= 0, got {c!r}")
    if max_iter < 1:
        raise ValueError(f"conflict_averse_weights: max_iter must be >= 1, got {max_iter}")
    work = _to_work(g)
    t = work.shape[-1]
    if t == 1:
        return torch.ones(work.shape[:-1], dtype=gramian.dtype, device=gramian.device)
    flat = work.reshape(-1, t, t)
    out = torch.stack([_cagrad_single(m, float(c), max_iter, tol) for m in flat])
    return out.reshape(work.shape[:-1]).to(gramian.dtype)


# ---------------------------------------------------------------------------------------------------
def _check_gramian(gramian: Tensor, who: str) -> Tensor:
    if not isinstance(gramian, Tensor):
        raise TypeError(f"{who}: the Gramian must be a torch.Tensor, got {type(gramian).__name__}")
    if not gramian.is_floating_point():
        raise TypeError(f"{who}: the Gramian must be floating point, got {gramian.dtype}")
    if gramian.dim() < 2 or gramian.shape[-1] != gramian.shape[-2] or gramian.shape[-1] < 1:
        raise ValueError(f"{who}: the Gramian must have shape [..., T, T], got {tuple(gramian.shape)}")
    if not torch.isfinite(gramian).all():
        raise ValueError(f"{who}: the Gramian has non-finite entries")
    return gramian


def _to_work(g: Tensor) -> Tensor:
    dtype = torch.float32 if g.device.type == "mps" else torch.float64
    w = g.detach().to(dtype)
    return 0.5 * (w + w.transpose(-1, -2))


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


def _face_weights(bordered: Tensor, support: list[int]) -> list[float] | None:
    """The affine min-norm weights of a face as host floats (one device sync); ``None`` if singular."""
    t = bordered.shape[0] - 1
    k = len(support)
    ix = torch.tensor([*support, t], device=bordered.device)
    lhs = bordered.index_select(0, ix).index_select(1, ix)
    rhs = torch.zeros(k + 1, 1, dtype=lhs.dtype, device=lhs.device)
    rhs[k] = 1.0
    sol, info = torch.linalg.solve_ex(lhs, rhs)
    values = torch.cat([sol[:k, 0], info.reshape(1).to(sol.dtype)]).tolist()
    if values[-1] != 0 or not all(math.isfinite(x) for x in values):
        return None
    return values[:k]


def _wolfe(
    gram: Tensor, max_iter: int, tol: float, warm: list[int] | None = None
) -> tuple[Tensor, list[int]]:
    """Wolfe's min-norm-point algorithm on one ``[T, T]`` Gramian; returns ``(w, active set)``.

    The active set and its weights live on the host (a handful of floats); the device does the
    mat-vec and the face solves, and is read once per solve, so a GPU sees about two syncs per step.
    ``warm``: an active set to start from (used when a sequence of related problems is solved).
    """
    t = gram.shape[0]
    diag = gram.diagonal().tolist()
    scale = max(diag)
    if scale <= _ZERO:
        return torch.full((t,), 1.0 / t, dtype=gram.dtype, device=gram.device), list(range(t))
    g = gram / scale
    bordered = _bordered(g)
    support: list[int] = []
    weights: list[float] = []
    if warm:
        v = _face_weights(bordered, warm)
        if v is not None and min(v) > _ACTIVE:
            support, weights = list(warm), v
    if not support:
        start = min(range(t), key=diag.__getitem__)
        support, weights = [start], [1.0]

    def dense(sup: list[int], wts: list[float]) -> Tensor:
        full = [0.0] * t
        for i, x in zip(sup, wts):
            full[i] = x
        return torch.tensor(full, dtype=g.dtype, device=g.device)

    w = dense(support, weights)
    for _ in range(max_iter):
        gw = g @ w
        stats = torch.cat([gw, (w @ gw).reshape(1)]).tolist()
        xx, gl = stats[-1], stats[:-1]
        j = min(range(t), key=gl.__getitem__)
        if xx - gl[j] <= tol or j in support:
            break
        support = [*support, j]
        weights = [*weights, 0.0]
        for _minor in range(t + 1):
            v = _face_weights(bordered, support)
            if v is None:  # numerically affinely dependent: drop the newcomer and stop
                return _finish(w), support[:-1]
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
    return _finish(w), support


def _finish(w: Tensor) -> Tensor:
    w = w.clamp_min(0.0)
    return w / w.sum()


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
    if cc <= 0.0:  # c = 0: minimise g_wᵀg₀, ties broken by the min-norm point of the minimisers
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
