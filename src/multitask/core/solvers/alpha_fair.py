"""α-fair weights: the positive solution of ``G w = w^{-1/α}`` (FairGrad's system; Nash-MTL's for α = 1).

:func:`alpha_fair_weights` solves it by damped Newton steps on a strictly convex potential;
:func:`normalized_fair_weights` is the same on the Gramian divided by its largest diagonal entry (the form
Nash-MTL warm-starts from). Works in float64 (float32 on MPS).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, work_gramian

__all__ = ["alpha_fair_weights", "normalized_fair_weights"]


def alpha_fair_weights(
    gramian: Tensor,
    alpha: float = 1.0,
    *,
    eps: float = 1e-8,
    max_iter: int = 100,
    tol: float = 1e-12,
    init: Tensor | None = None,
) -> Tensor:
    """Positive weights ``w`` solving ``(G w)ᵢ = wᵢ^{-1/α}`` for every task ``i``.

    The system is the stationarity condition of the strictly convex function (``w > 0``)
    ``f(w) = ½ wᵀ(G + εI)w − Σᵢ h(wᵢ)`` with ``h(w) = log w`` (``α = 1``, Nash-MTL's ``Gw = 1/w``) or
    ``h(w) = w^{1−1/α} / (1 − 1/α)`` (``α ≠ 1``), so it has exactly one solution, found by damped
    Newton steps (Armijo backtracking, steps kept inside ``w > 0``) from the best multiple of the
    all-ones vector (or of ``init``). The Gramian is first divided by its largest diagonal entry
    ``s``; the answer for ``G`` is ``s^{-α/(α+1)}`` times the answer for ``G/s``, so every scale of the
    gradients gives the same direction up to that factor.

    ``ε`` (relative to the largest diagonal entry) gives every task a private coordinate: it keeps the
    problem solvable when ``G`` is singular (collinear or opposite gradients, where no ``w > 0``
    solves the exact system) and moves the solution of a well-conditioned ``G`` by ``O(ε)``. Tasks with
    an exactly zero gradient get weight 0 (the condition cannot hold for them).

    Args:
        gramian: ``[T, T]`` Gramian ``J Jᵀ``.
        alpha: fairness exponent ``α > 0``.
        eps: relative ridge ``ε ≥ 0``.
        max_iter: cap on Newton iterations.
        tol: stop when ``maxᵢ |wᵢ^{1/α}(Gw)ᵢ − 1| ≤ tol``.
        init: optional positive starting point (e.g. the previous step's solution for ``G/s``).

    Returns:
        weights ``[T]`` in the Gramian's dtype and device.
    """
    gram = check_gramian(gramian, "alpha_fair_weights")
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha_fair_weights: alpha must be a finite number > 0, got {alpha!r}")
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"alpha_fair_weights: eps must be a finite number >= 0, got {eps!r}")
    w_norm, scale = normalized_fair_weights(gram, alpha, eps=eps, max_iter=max_iter, tol=tol, init=init)
    if scale <= 0.0:
        return w_norm.to(gramian.dtype)
    return (w_norm * scale ** (-alpha / (alpha + 1.0))).to(gramian.dtype)


def normalized_fair_weights(
    gramian: Tensor,
    alpha: float,
    *,
    eps: float = 1e-8,
    max_iter: int = 100,
    tol: float = 1e-12,
    init: Tensor | None = None,
) -> tuple[Tensor, float]:
    """``(w, s)``: the float64 solution for ``G/s`` (``s`` = largest diagonal entry; ``s = 0``: zeros)."""
    g = work_gramian(gramian)
    dtype = g.dtype
    t = g.shape[0]
    diag = g.diagonal()
    scale = float(diag.max())
    out = torch.zeros(t, dtype=dtype, device=g.device)
    if not scale > 0.0:
        return out, 0.0
    g = g / scale
    active = (diag > 0).nonzero().flatten()
    sub = g.index_select(0, active).index_select(1, active)
    sub = sub + eps * torch.eye(active.numel(), dtype=dtype, device=g.device)
    start = None
    if init is not None and init.shape == (t,):
        start = init.detach().to(dtype=dtype, device=g.device).index_select(0, active)
        if not bool((start > 0).all()) or not bool(torch.isfinite(start).all()):
            start = None
    out[active] = _newton(sub, float(alpha), max_iter, tol, start)
    return out, scale


def _newton(a: Tensor, alpha: float, max_iter: int, tol: float, start: Tensor | None) -> Tensor:
    """Damped Newton on ``f(w) = ½ wᵀAw − Σ h(wᵢ)`` (``A`` positive definite, normalised)."""
    inv = 1.0 / alpha
    p = 1.0 - inv

    def h_sum(w: Tensor) -> Tensor:
        return torch.log(w).sum() if abs(p) < 1e-12 else (w.pow(p) / p).sum()

    def f(w: Tensor) -> Tensor:
        return 0.5 * (w @ (a @ w)) - h_sum(w)

    w = torch.ones(a.shape[0], dtype=a.dtype, device=a.device) if start is None else start.clone()
    # best multiple c·w of the start: c^{1+1/α} (wᵀAw) = Σ wᵢ^{1−1/α}
    quad = float(w @ (a @ w))
    if quad > 0:
        w = w * (float(w.pow(p).sum()) / quad) ** (alpha / (alpha + 1.0))
    eye = torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    for _ in range(max_iter):
        aw = a @ w
        resid = w.pow(inv) * aw - 1.0
        if float(resid.abs().max()) <= tol:
            break
        grad = aw - w.pow(-inv)
        hess = a + torch.diag(inv * w.pow(-inv - 1.0))
        step, info = torch.linalg.solve_ex(hess, -grad)
        if int(info) != 0 or not bool(torch.isfinite(step).all()):
            step = torch.linalg.lstsq(hess + 1e-12 * eye, -grad[:, None]).solution[:, 0]
        slope = float(grad @ step)
        if slope >= 0:  # numerically flat: the solution is as good as float64 allows
            break
        neg = step < 0
        t_max = float((-w[neg] / step[neg]).min()) * 0.99 if bool(neg.any()) else 1.0
        t = min(1.0, t_max)
        f0 = float(f(w))
        g0 = float(grad.norm())
        while t > 1e-12:
            cand = w + t * step
            # Armijo on f; near the root f stops resolving the decrease, so a smaller gradient also counts
            if bool((cand > 0).all()) and (
                float(f(cand)) <= f0 + 1e-4 * t * slope
                or float((a @ cand - cand.pow(-inv)).norm()) < (1.0 - 1e-4 * t) * g0
            ):
                break
            t *= 0.5
        else:
            break
        w = w + t * step
    return w
