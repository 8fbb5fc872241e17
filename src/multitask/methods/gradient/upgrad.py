"""UPGrad: average of every task gradient projected onto the dual cone of all of them."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.methods.base import GradientMethod, check_gramian, register_method

__all__ = ["UPGrad", "dual_cone_weights"]


def dual_cone_weights(
    gramian: Tensor, u: Tensor, *, reg_eps: float = 0.0, tol: float = 1e-12, max_iter: int | None = None
) -> Tensor:
    """Weights ``v`` of the projection of ``Jᵀu`` onto the dual cone ``{x : J x ≥ 0}``: ``π(Jᵀu) = Jᵀv``.

    By Quinton & Rey (2024), Proposition 1, ``v = argmin_{v ≥ u} vᵀ G v``. With ``v = u + λ`` this is
    the non-negative quadratic program ``min_{λ ≥ 0} ½ λᵀGλ + (Gu)ᵀλ``, solved exactly by the
    Lawson–Hanson active-set method in the Gramian form (each step solves ``G_PP λ_P = −(Gu)_P`` on the
    free set ``P``; pseudo-inverse when ``G_PP`` is singular). At the solution ``Gv ≥ 0`` (the direction
    conflicts with no task), ``v ≥ u`` and ``(v − u)ᵢ (Gv)ᵢ = 0``. All rows of ``u`` are solved together
    as one batched active-set run on the Gramian's device; a row whose free-set system is singular is
    re-solved alone with the pseudo-inverse.

    Args:
        gramian: ``[T, T]`` Gramian (any scale: it is divided by its trace first, as in torchjd).
        u: ``[T]`` or ``[k, T]`` weights of the vectors to project (one problem per row).
        reg_eps: ridge added to the trace-normalised Gramian (torchjd's ``reg_eps``; 0 = exact).
        tol: optimality tolerance on ``Gv ≥ −tol`` in normalised units.
        max_iter: cap on active-set changes (default ``10·T + 10``).

    Returns:
        ``v`` with the shape of ``u``, in float64 (float32 on MPS).
    """
    g = check_gramian(gramian)
    dtype = torch.float32 if g.device.type == "mps" else torch.float64
    g = g.detach().to(dtype)
    g = 0.5 * (g + g.T)
    t = g.shape[0]
    uu = torch.as_tensor(u, dtype=dtype, device=g.device)
    if uu.shape[-1] != t or uu.dim() > 2:
        raise ValueError(f"dual_cone_weights: u must have shape [{t}] or [k, {t}], got {tuple(uu.shape)}")
    trace = float(g.diagonal().sum())
    if not trace > 0:  # J = 0: the cone is everything, the projection is Jᵀu = 0 itself
        return uu.clone()
    g = g / trace + reg_eps * torch.eye(t, dtype=dtype, device=g.device)
    cap = 10 * t + 10 if max_iter is None else int(max_iter)
    rows = uu.reshape(-1, t)
    out, bad = _nnls_gram_batched(g, rows, tol, cap)
    if bool(bad.any()):  # singular free-set system somewhere: redo those rows with the pseudo-inverse path
        for i in torch.nonzero(bad).flatten().tolist():
            out[i] = _nnls_gram(g, rows[i], tol, cap)
    return out.reshape(uu.shape)


def _nnls_gram_batched(g: Tensor, u: Tensor, tol: float, max_iter: int) -> tuple[Tensor, Tensor]:
    """The Lawson–Hanson steps of :func:`_nnls_gram` run on all ``k`` rows of ``u`` ``[k, T]`` at once.

    Each row keeps its own free set as a boolean mask; the free-set systems ``G_PP λ_P = −c_P`` are
    solved as one batched ``[k, T, T]`` solve of ``G`` with its non-free rows/columns replaced by the
    identity (and a zero right-hand side there), which has the same solution on ``P`` and zero elsewhere.
    Returns ``(v, bad)``: ``bad`` marks rows whose system was singular or ill-conditioned (the direct
    solve failed the residual check of :func:`_solve_psd`); their ``v`` is not valid and the caller must
    solve them with :func:`_nnls_gram`.
    """
    k, t = u.shape
    c = u @ g  # row i: G u_i (G symmetric)
    eye = torch.eye(t, dtype=g.dtype, device=g.device)
    lam = torch.zeros(k, t, dtype=g.dtype, device=g.device)
    free = torch.zeros(k, t, dtype=torch.bool, device=g.device)
    active = torch.ones(k, dtype=torch.bool, device=g.device)
    bad = torch.zeros(k, dtype=torch.bool, device=g.device)
    inf = torch.tensor(float("inf"), dtype=g.dtype, device=g.device)
    cols = torch.arange(t, device=g.device)
    for _ in range(max_iter):
        grad = (lam @ g + c).masked_fill(free, inf)
        gmin, j = grad.min(dim=1)
        active = active & ~bad & ~free.all(dim=1) & (gmin < -tol)
        if not bool(active.any()):
            break
        free = free | ((cols == j[:, None]) & active[:, None])
        inner = active.clone()
        for _inner in range(t + 1):
            sol, ok = _solve_masked(g, free, c, eye)
            bad = bad | (inner & ~ok)
            inner = inner & ok
            pos = ((sol > 0) | ~free).all(dim=1)
            accept = inner & pos
            lam = torch.where(accept[:, None], torch.where(free, sol, 0.0), lam)
            inner = inner & ~pos
            if not bool(inner.any()):
                break
            neg = free & (sol <= 0)
            ratio = torch.where(neg, lam / (lam - sol).clamp_min(1e-300), inf)
            step = ratio.min(dim=1).values.clamp(0.0, 1.0)
            cur = lam + step[:, None] * (sol - lam)
            keep = free & (cur > 1e-15)
            none_dropped = (keep == free).all(dim=1)  # numerical corner: drop the smallest explicitly
            smallest = cols == torch.where(free, cur, inf).argmin(dim=1, keepdim=True)
            keep = torch.where(none_dropped[:, None], keep & ~smallest, keep)
            lam = torch.where(inner[:, None], torch.where(keep, cur, 0.0), lam)
            free = torch.where(inner[:, None], keep, free)
            inner = inner & free.any(dim=1)
    return u + lam.clamp_min(0.0), bad


def _solve_masked(g: Tensor, free: Tensor, c: Tensor, eye: Tensor) -> tuple[Tensor, Tensor]:
    """Solve ``G_PP x_P = −c_P`` (``x = 0`` off ``P``) for every row's free set; ``ok`` = trusted."""
    both = free[:, :, None] & free[:, None, :]
    a = torch.where(both, g, eye)
    b = torch.where(free, -c, 0.0)
    sol, info = torch.linalg.solve_ex(a, b.unsqueeze(-1))
    sol = sol.squeeze(-1)
    resid = (a @ sol.unsqueeze(-1)).squeeze(-1) - b
    scale = b.abs().amax(dim=1).clamp_min(1.0)
    # a non-finite solution gives a NaN/inf residual, which fails the comparison (NaN <= x is False)
    ok = (info == 0) & (resid.abs().amax(dim=1) <= 1e-10 * scale)
    return sol, ok


def _nnls_gram(g: Tensor, u: Tensor, tol: float, max_iter: int) -> Tensor:
    """Lawson–Hanson for ``min_{λ ≥ 0} ½λᵀGλ + cᵀλ`` with ``c = Gu``; returns ``v = u + λ``."""
    t = g.shape[0]
    c = g @ u
    lam = torch.zeros(t, dtype=g.dtype, device=g.device)
    free: list[int] = []
    inf = torch.tensor(float("inf"), dtype=g.dtype, device=g.device)
    for _ in range(max_iter):
        if len(free) == t:
            break
        grad = g @ lam + c
        if free:
            grad = grad.index_fill(0, torch.tensor(free, device=g.device), inf)
        j = int(torch.argmin(grad))
        if float(grad[j]) >= -tol:
            break
        free.append(j)
        for _inner in range(t + 1):
            idx = torch.tensor(free, device=g.device)
            sub = g.index_select(0, idx).index_select(1, idx)
            rhs = -c.index_select(0, idx)
            sol = _solve_psd(sub, rhs)
            if bool((sol > 0).all()):
                lam = torch.zeros_like(lam)
                lam[idx] = sol
                break
            cur = lam.index_select(0, idx)
            neg = sol <= 0
            step = float(torch.min(cur[neg] / (cur[neg] - sol[neg]).clamp_min(1e-300)))
            step = min(max(step, 0.0), 1.0)
            cur = cur + step * (sol - cur)
            keep = (cur > 1e-15).tolist()
            if all(keep):  # numerical corner: drop the smallest explicitly
                keep[int(torch.argmin(cur))] = False
            lam = torch.zeros_like(lam)
            kept = [f for f, k in zip(free, keep) if k]
            if kept:
                lam[torch.tensor(kept, device=g.device)] = cur[torch.tensor(keep, device=g.device)]
            free = kept
            if not free:
                break
    return u + lam.clamp_min(0.0)


def _solve_psd(a: Tensor, b: Tensor) -> Tensor:
    sol, info = torch.linalg.solve_ex(a, b)
    if int(info) == 0 and bool(torch.isfinite(sol).all()):
        # accept only when the system is well conditioned enough to trust the direct solve
        if float((a @ sol - b).abs().max()) <= 1e-10 * max(1.0, float(b.abs().max())):
            return sol
    return torch.linalg.pinv(a, rtol=1e-12, hermitian=True) @ b


@register_method("upgrad")
class UPGrad(GradientMethod):
    """Unconflicting Projection of Gradients (UPGrad).

    Quinton & Rey. Jacobian Descent for Multi-Objective Optimization. arXiv:2406.16232, 2024.

    Update rule: ``d = (1/T) Σᵢ π_J(gᵢ)`` where ``π_J`` is the Euclidean projection onto the dual cone
    ``{x : J x ≥ 0}`` of the task gradients (paper eq. 3; general form ``d = Σᵢ pᵢ π_J(gᵢ)`` with a
    preference vector ``p``, uniform by default). By Proposition 1, ``π_J(Jᵀu) = Jᵀv`` with
    ``v = argmin_{v ≥ u} vᵀGv``, so ``w = Σᵢ v⁽ⁱ⁾`` with ``u⁽ⁱ⁾ = pᵢ eᵢ``: a Gramian-only method
    (:func:`dual_cone_weights`, exact active-set solver in torch instead of torchjd's quadprog call).
    Properties (paper, Section 2): the update never conflicts with a task (``J d ≥ 0``), it is
    scale-equivariant (``d(sJ) = s d(J)``), weighted by ``w ≥ p`` and invariant to task permutations.

    Args:
        pref_vector: preference ``p`` (``[T]``, non-negative) or ``None`` for ``1/T`` (paper default).
        reg_eps: ridge added to the trace-normalised Gramian (torchjd's default 1e-4 makes its QP
            solver happy; the active-set solver here needs none, so the default 0 projects exactly).
        tol: solver tolerance in trace-normalised units.
    Modes: parameters, features.
    """

    needs = "gramian"

    def __init__(self, pref_vector: Tensor | None = None, reg_eps: float = 0.0, tol: float = 1e-12) -> None:
        super().__init__()
        self.pref_vector = _check_pref(pref_vector, type(self).__name__)
        if not (math.isfinite(reg_eps) and reg_eps >= 0):
            raise ValueError(f"{type(self).__name__}: reg_eps must be a finite number >= 0, got {reg_eps!r}")
        if not tol > 0:
            raise ValueError(f"{type(self).__name__}: tol must be > 0, got {tol!r}")
        self.reg_eps = float(reg_eps)
        self.tol = float(tol)

    def preference(self, t: int, like: Tensor) -> Tensor:
        """The preference vector for ``t`` tasks (uniform ``1/T`` when none was given)."""
        dtype = torch.float32 if like.device.type == "mps" else torch.float64
        if self.pref_vector is None:
            return torch.full((t,), 1.0 / t, dtype=dtype, device=like.device)
        if self.pref_vector.shape != (t,):
            raise ValueError(
                f"{type(self).__name__}: pref_vector has {self.pref_vector.numel()} entries for {t} tasks"
            )
        return self.pref_vector.to(dtype=dtype, device=like.device)

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        p = self.preference(gramian.shape[0], gramian)
        v = dual_cone_weights(gramian, torch.diag(p), reg_eps=self.reg_eps, tol=self.tol)
        return v.sum(dim=0).to(gramian.dtype)

    def extra_repr(self) -> str:
        pref = None if self.pref_vector is None else self.pref_vector.tolist()
        return f"pref_vector={pref}, reg_eps={self.reg_eps}"


def _check_pref(pref: Tensor | None, who: str) -> Tensor | None:
    if pref is None:
        return None
    p = torch.as_tensor(pref, dtype=torch.float64).detach().flatten()
    if p.numel() < 1 or not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError(f"{who}: pref_vector must be finite and non-negative, got {p.tolist()}")
    return p
