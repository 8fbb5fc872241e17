"""Certified coordinate-descent engine of the least-squares Lasso and ℓ2,1 estimators.

Solves ``min_W Σₜ ½‖yₜ − Xₜwₜ‖² + rho_l2‖W‖²_F + rho1 · N(W)`` (N = ‖W‖₁ or Σⱼ‖Wⱼ,:‖₂, data centred by
``fit``) until the relative duality gap of :func:`~multitask.classic._prox_gradient.least_squares_gap`
(our own dual computation, not the engine's) is at most ``tol``:

* **shared design** (``fit(X, Y)``): scikit-learn's coordinate descent, which solves exactly this problem
  after dividing by n: ``MultiTaskLasso`` / ``MultiTaskElasticNet`` for ℓ2,1 (Obozinski, Taskar, Jordan,
  2006) and ``Lasso`` / ``ElasticNet`` column by column for ℓ1 (Friedman, Hastie, Tibshirani, J. Stat.
  Softw. 2010), with ``alpha = (rho1 + 2 rho_l2) / n`` and ``l1_ratio = rho1 / (rho1 + 2 rho_l2)``.
  (the solver of those estimators, called through the public ``enet_path`` at one ``alpha`` with the
  input checks done once). scikit-learn stops on its own gap ``P − D ≤ tol_sk ‖Y‖²_F``; we pass
  ``tol_sk = tol · D̂ / ‖Y‖²_F`` (D̂ an estimate of P* from our dual), check our relative gap and refit
  from the current point with a smaller ``tol_sk`` until it holds;
  For ℓ2,1 with more samples than features the n x d design is first replaced by the d x d Cholesky
  factor of its Gram matrix (:func:`_compressed`, the same objective up to a constant), so an epoch costs
  d² T instead of n d T; on a wide design (n ≤ d, no ridge) both penalties run working-set coordinate
  descent (:mod:`multitask.classic._working_set`);
* **per-task designs** (``fit(X, y, task=t)``) with the per-task Gram matrices precomputed (more samples
  than T·d): block coordinate descent over the feature rows Wⱼ,: ∈ ℝᵀ written here in numpy, the
  gradient kept up to date with one column of each Gram matrix per update (Tseng & Yun, Math. Program.
  2009). The tasks' losses are separate, so the Hessian of the smooth part in the row Wⱼ,: is diagonal,
  ``diag(Lⱼₜ)`` with ``Lⱼₜ = (Xₜᵀ Xₜ)ⱼⱼ + 2 rho_l2``, and every update is the exact block minimiser: for ℓ1
  ``S(wⱼₜ − gⱼₜ/Lⱼₜ, rho1/Lⱼₜ)``, for ℓ2,1 the weighted group shrinkage of :func:`_group_block_min`.
  The gap is checked every epoch.

Everything else (no Gram matrices, rho1 = 0) falls back to FISTA with ``stop="gap"``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import solve_triangular

from multitask.classic._losses import LeastSquaresLoss
from multitask.classic._sklearn_cd import enet_path_engine
from multitask.classic._working_set import ws_applies, ws_solve

__all__ = ["cd_solve", "cd_applies"]

Gap = Callable[[tuple[np.ndarray, ...], np.ndarray], float]


def cd_applies(loss: object, rho1: float) -> bool:
    """Whether :func:`cd_solve` handles this fit (least squares with rho1 > 0, shared design or Gram)."""
    return isinstance(loss, LeastSquaresLoss) and rho1 > 0 and (loss.shared or loss.use_gram)


def _objective(loss: LeastSquaresLoss, W: np.ndarray, penalty: str, rho1: float, rho_l2: float) -> float:
    norm = np.abs(W).sum() if penalty == "l1" else np.linalg.norm(W, axis=1).sum()
    return loss.value(W) + rho_l2 * float(np.sum(W * W)) + rho1 * float(norm)


def _sklearn_round(
    X: np.ndarray, Y: np.ndarray, G: np.ndarray | None, B: np.ndarray, penalty: str,
    alpha: float, l1_ratio: float, W: np.ndarray, tol: float, max_iter: int,
) -> tuple[np.ndarray, int]:
    """One call of scikit-learn's coordinate descent (``enet_path`` at the single ``alpha``, inputs already
    Fortran-ordered float64, so ``check_input=False``) from W; returns (W, iterations)."""
    kw = dict(l1_ratio=l1_ratio, alphas=[alpha], tol=tol, max_iter=max_iter)
    if penalty == "l21":  # multi-output: MultiTaskLasso / MultiTaskElasticNet's solver
        _, coefs, _, n_iters = enet_path_engine(X, Y, coef_init=np.asfortranarray(W.T), precompute=False,
                                                **kw)
        return coefs[..., 0].T.copy(), int(n_iters[0])
    out, its = np.empty_like(W), 0
    for t in range(W.shape[1]):  # Lasso / ElasticNet column by column (their fit does the same)
        pre = dict(precompute=False) if G is None else dict(precompute=G, Xy=np.ascontiguousarray(B[:, t]))
        _, coefs, _, n_iters = enet_path_engine(X, Y[:, t], coef_init=np.ascontiguousarray(W[:, t]), **pre,
                                                **kw)
        out[:, t], its = coefs[:, 0], max(its, int(n_iters[0]))
    return out, its


def _solve_sklearn(
    loss: LeastSquaresLoss, penalty: str, rho1: float, rho_l2: float, W: np.ndarray,
    tol: float, max_iter: int, gap: Gap,
) -> tuple[np.ndarray, int, list[float], float]:
    G = None if loss.G is None else np.ascontiguousarray(loss.G)  # symmetric: C order is what cd_fast reads
    reduced = _compressed(loss) if penalty == "l21" and G is not None else None
    if reduced is not None:  # d x d design with the same objective up to a constant
        X, Y = reduced
    else:
        X = np.asfortranarray(loss.Xs[0])
        Y = np.asfortranarray(np.stack(loss.ys, axis=1))
    n = X.shape[0]
    yy = float(np.sum(Y * Y))  # scikit-learn's tolerance is relative to the ‖Y‖² it is given
    yy_full = float(loss.yy.sum())
    alpha, l1_ratio = (rho1 + 2.0 * rho_l2) / n, rho1 / (rho1 + 2.0 * rho_l2)
    c0 = np.zeros(loss.n_tasks)
    path: list[float] = []
    n_iter, rounds = 0, 0
    if W.any():
        primal, g = _objective(loss, W, penalty, rho1, rho_l2), gap((W,), c0)
    else:  # at W = 0 (a cold start) P = ½‖Y‖² and the dual value is closed-form: no pass over the data
        dual = float(np.abs(loss.B).max() if penalty == "l1" else np.linalg.norm(loss.B, axis=1).max())
        a = min(1.0, rho1 / dual) if dual > 0 else 1.0
        primal, g = 0.5 * yy_full, (1.0 - a) ** 2 if yy_full > 0 else 0.0  # (P − yy(a − a²/2)) / P
    while g > tol and n_iter < max_iter and rounds < 20:
        # scikit-learn stops at P − D_sk ≤ tol_sk ‖Y‖²; our dual point is at least as good as its (the same
        # scaled residual, our scale optimal), so tol_sk = tol · D / ‖Y‖² with D = P(1 − gap) ≤ P* certifies
        # in one round (a tighter tol_sk costs CD, linearly convergent, a few epochs; a second call costs
        # more); a rare further round (e.g. max_iter reached) asks 10 times tighter
        lower = primal * max(1.0 - g, 1e-3)
        guess = np.sqrt(lower * primal) if rounds == 0 else lower / 10.0 ** (rounds - 1)
        tol_sk = tol * guess / max(yy, np.finfo(float).tiny)
        W, its = _sklearn_round(X, Y, G, loss.B, penalty, alpha, l1_ratio, W, tol_sk, max_iter - n_iter)
        n_iter += its
        g = gap((W,), c0)
        primal = getattr(gap, "primal", None)  # least_squares_gap keeps P(W): no second pass over X
        primal = _objective(loss, W, penalty, rho1, rho_l2) if primal is None else float(primal)
        path.append(primal)
        rounds += 1
    return W, max(n_iter, 1), path, g


def _compressed(loss: LeastSquaresLoss) -> tuple[np.ndarray, np.ndarray] | None:
    """A d x d design with the objective of the n x d one up to a constant, for n > d: with the Cholesky
    factor ``XᵀX = LLᵀ``, ``‖Y − XW‖² = ‖L⁻¹XᵀY − LᵀW‖² + ‖Y‖² − ‖L⁻¹XᵀY‖²``, so coordinate descent on
    (Lᵀ, L⁻¹XᵀY) solves the same problem at d/n of the cost per epoch (the duality gap is still computed on
    the original problem). None when XᵀX is not safely positive definite (the caller keeps X)."""
    G = loss.G
    try:
        L = np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        return None
    diag = np.diagonal(L)
    if not np.all(np.isfinite(L)) or float((diag * diag).min()) <= 1e-10 * float(np.diagonal(G).max()):
        return None
    Yr = solve_triangular(L, loss.B, lower=True, check_finite=False)
    return np.asfortranarray(L.T), np.asfortranarray(Yr)


def _group_block_min(z: np.ndarray, L: np.ndarray, rho1: float) -> np.ndarray:
    """``argmin_w Σₜ ½Lₜ(wₜ − zₜ)² + rho1‖w‖₂`` (Lₜ ≥ 0): w = 0 iff ‖L ⊙ z‖ ≤ rho1, else
    ``wₜ = Lₜzₜν / (Lₜν + rho1)`` with ν = ‖w‖ the root of the convex decreasing
    ``h(ν) = Σₜ (Lₜzₜ / (Lₜν + rho1))² − 1``, found by Newton's method from ν = 0 (monotone, no overshoot)."""
    Lz = L * z
    if float(np.sqrt(Lz @ Lz)) <= rho1:
        return np.zeros_like(z)
    nu = 0.0
    for _ in range(100):
        q = Lz / (L * nu + rho1)
        h = float(q @ q) - 1.0
        dh = -2.0 * float(np.sum(L * q * q / (L * nu + rho1)))
        step = -h / dh
        nu += step
        if step <= 1e-13 * nu:
            break
    return Lz * nu / (L * nu + rho1)


def _solve_gram(
    loss: LeastSquaresLoss, penalty: str, rho1: float, rho_l2: float, W: np.ndarray,
    tol: float, max_iter: int, gap: Gap,
) -> tuple[np.ndarray, int, list[float], float]:
    d, T = W.shape
    if loss.shared:
        cols = np.repeat(loss.G[:, :, None], T, axis=2)  # cols[j][i, t] = (Xₜᵀ Xₜ)ᵢⱼ
    else:
        cols = np.ascontiguousarray(loss.G.transpose(2, 1, 0))
    D = np.einsum("jjt->jt", cols) + 2.0 * rho_l2  # coordinate curvatures Lⱼₜ
    c0 = np.zeros(T)
    path: list[float] = []
    g = gap((W,), c0)
    n_iter = 0
    while g > tol and n_iter < max_iter:
        n_iter += 1
        grad = np.einsum("jit,jt->it", cols, W) - loss.B + 2.0 * rho_l2 * W  # exact, every epoch
        for j in range(d):
            w, L = W[j], D[j]
            if penalty == "l1":
                safe = np.where(L > 0, L, 1.0)
                z = w - grad[j] / safe
                new = np.where(L > 0, np.sign(z) * np.maximum(np.abs(z) - rho1 / safe, 0.0), 0.0)
            else:
                new = _group_block_min(w - grad[j] / np.where(L > 0, L, 1.0), L, rho1)
            delta = new - w
            if np.any(delta):
                W[j] = new
                grad += cols[j] * delta
        path.append(_objective(loss, W, penalty, rho1, rho_l2))
        g = gap((W,), c0)
    return W, max(n_iter, 1), path, g


def cd_solve(
    loss: LeastSquaresLoss, penalty: str, rho1: float, rho_l2: float, W0: np.ndarray,
    *, tol: float, max_iter: int, gap: Gap,
) -> tuple[np.ndarray, int, list[float], float]:
    """Coordinate descent from W0 until the relative gap ``gap`` is at most ``tol`` or ``max_iter`` epochs
    (module docstring). Returns (W, n_iter, objective after each round / epoch, final gap)."""
    if penalty not in ("l1", "l21"):
        raise ValueError(f"cd_solve: penalty must be 'l1' or 'l21', got {penalty!r}")
    W = np.array(W0, dtype=float, copy=True)
    if loss.shared and ws_applies(loss.Xs[0].shape[0], W.shape[0], rho_l2):
        X = np.asfortranarray(loss.Xs[0])
        W, n_iter, path, g = ws_solve(X, np.stack(loss.ys, axis=1), loss.B, penalty, rho1, W,
                                      tol=tol, max_iter=max_iter)
        return W, n_iter, path, g
    solve = _solve_sklearn if loss.shared else _solve_gram
    W, n_iter, path, g = solve(loss, penalty, rho1, rho_l2, W, tol, max_iter, gap)
    if not path:
        path = [_objective(loss, W, penalty, rho1, rho_l2)]
    return W, n_iter, path, g
