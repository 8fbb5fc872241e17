"""FairGrad: α-fair utility weights, ``G w = w^{-1/α}`` (also the solver behind Nash-MTL)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, work_gramian
from multitask.methods.base import GradientMethod, register_method

__all__ = ["FairGrad", "alpha_fair_weights"]


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
    gram = check_gramian(gramian)
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


@register_method("fairgrad")
class FairGrad(GradientMethod):
    """FairGrad: fair resource allocation among the tasks (α-fair utilities).

    Ban & Ji. Fair Resource Allocation in Multi-Task Learning. ICML 2024.

    The update ``d`` maximises the α-fair utility ``Σᵢ (gᵢᵀd)^{1−α}/(1−α)`` (``Σᵢ log gᵢᵀd`` for
    ``α = 1``) over a ball. Writing ``d = Σᵢ wᵢ gᵢ = Jᵀw``, its optimality condition is

        ``G w = w^{-1/α}``  (elementwise power, ``G = J Jᵀ``, ``w > 0``),

    solved here by damped Newton on its convex potential (:func:`alpha_fair_weights`) instead of the
    official code's ``scipy.optimize.least_squares`` (same root, exact to ``tol``). ``α = 1`` is
    proportional fairness (the Nash-MTL weights), ``α → ∞`` approaches max-min fairness (MGDA-like),
    ``α → 0`` approaches the plain sum. As in the official code, the update is then clipped to norm at
    most ``max_norm`` (``clip_grad_norm_`` of the shared parameters; here the weights are scaled so
    that ``‖Jᵀw‖ ≤ max_norm``; ``max_norm = 0`` turns clipping off).

    Args:
        alpha: fairness exponent ``α > 0`` (official default 1.0; the paper reports α = 2 on QM9,
            CelebA and Cityscapes among others).
        max_norm: clip the update's norm to this (official default 1.0; 0 disables).
        eps: relative ridge that keeps degenerate Gramians solvable (see :func:`alpha_fair_weights`).
        max_iter: cap on Newton iterations.
    Modes: parameters, features (in features mode ``max_norm`` clips the representation gradient).
    """

    needs = "gramian"

    def __init__(
        self, alpha: float = 1.0, max_norm: float = 1.0, eps: float = 1e-8, max_iter: int = 100
    ) -> None:
        super().__init__()
        if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha > 0):
            raise ValueError(f"FairGrad: alpha must be a finite number > 0, got {alpha!r}")
        if not (isinstance(max_norm, (int, float)) and math.isfinite(max_norm) and max_norm >= 0):
            raise ValueError(f"FairGrad: max_norm must be a finite number >= 0, got {max_norm!r}")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
            raise ValueError(f"FairGrad: eps must be a finite number >= 0, got {eps!r}")
        if int(max_iter) < 1:
            raise ValueError(f"FairGrad: max_iter must be >= 1, got {max_iter}")
        self.alpha = float(alpha)
        self.max_norm = float(max_norm)
        self.eps = float(eps)
        self.max_iter = int(max_iter)
        #: the unclipped solution of ``Gw = w^{-1/α}`` of the last call
        self.last_solution: Tensor | None = None

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        w = alpha_fair_weights(gramian, self.alpha, eps=self.eps, max_iter=self.max_iter)
        self.last_solution = w
        return clip_weights(w, gramian, self.max_norm)

    def reset(self) -> None:
        super().reset()
        self.last_solution = None

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, max_norm={self.max_norm}"


def clip_weights(w: Tensor, gramian: Tensor, max_norm: float) -> Tensor:
    """Scale ``w`` so that ``‖Jᵀw‖ = √(wᵀGw) ≤ max_norm`` (``max_norm = 0``: unchanged)."""
    if max_norm <= 0:
        return w
    work = w.to(torch.float64 if w.device.type != "mps" else torch.float32)
    g = gramian.detach().to(work.dtype)
    norm = float((work @ g @ work).clamp_min(0.0).sqrt())
    if norm > max_norm:
        work = work * (max_norm / norm)
    return work.to(w.dtype)
