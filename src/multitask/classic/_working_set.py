"""Working-set coordinate descent for the Lasso and ℓ2,1 problems on a wide shared design (n ≤ d).

Solves ``min_W ½‖Y − XW‖²_F + rho1 · N(W)`` (N = ‖W‖₁ or Σⱼ‖Wⱼ,:‖₂; centred data, no ridge) the way celer
(Massias, Gramfort, Salmon, ICML 2018) and skglm (Bertrand et al., NeurIPS 2022) do: coordinate descent runs
on a small set of features only, and one pass over the whole design per outer iteration checks a duality
gap and picks the next set.

Outer iteration, for every group of columns still above its target (ℓ2,1: all tasks together, one group;
ℓ1: the problem separates over the tasks, one group per task):

1. residual ``R = Y − XW`` and ``C = XᵀR`` (one pass over X for all groups at once; at W = 0 it is the
   precomputed ``XᵀY``);
2. dual point ``θ = s·R`` with ``s = clip(⟨R, Y⟩/‖R‖², 0, rho1/N*(C))`` (N* the dual norm: max |cⱼₜ| or
   maxⱼ ‖Cⱼ,:‖), the value maximising the dual ``D(θ) = ⟨θ, Y⟩ − ½‖θ‖²`` along R, and the gap
   ``P(W) − D(θ) ≥ P(W) − P*``; the group is done when it is at most ``tol·max(P(W), 1e-12·P(0))``
   (:func:`~multitask.classic._losses.relative_gap`; then the sum over the groups is at most ``tol``
   times the sum of those denominators, the relative gap of the whole problem);
3. working set: the support of W plus the features with the largest dual violation ``N*(Cⱼ)/rho1``,
   ``max(p0, 2·|support|)`` features in all (doubled when it would repeat the last set);
4. scikit-learn's coordinate descent (``enet_path``, the solver of ``Lasso`` / ``MultiTaskLasso``, at the
   single ``alpha = rho1/n``) on ``X[:, set]`` warm-started from W, asked for a gap of half the target
   (scikit-learn stops on its own gap ``≤ tol_sk ‖y‖²``).

A sub-problem costs ``n·|set|`` per epoch instead of ``n·d``; the whole design is read once per outer
iteration (two to four on the benchmark problems) instead of once per epoch.
"""

from __future__ import annotations

import numpy as np

from multitask.classic._losses import relative_gap
from multitask.classic._sklearn_cd import enet_path_engine

__all__ = ["ws_applies", "ws_solve"]

P0 = 16  # smallest working set


def ws_applies(n_samples: int, n_features: int, rho_l2: float) -> bool:
    """Working sets pay where the design is wide (n ≤ d) and there is no ridge."""
    return rho_l2 == 0.0 and n_samples <= n_features


def _dual_norms(C: np.ndarray, penalty: str) -> np.ndarray:
    """Per feature (and per column for ℓ1): |cⱼₜ| (d x k) or ‖Cⱼ,:‖ (d)."""
    return np.abs(C) if penalty == "l1" else np.linalg.norm(C, axis=1)


def _group_gap(R: np.ndarray, Y: np.ndarray, C: np.ndarray, W: np.ndarray, penalty: str, rho1: float):
    """(P, gap) of one group from its residual R, C = XᵀR and W (module docstring, step 2)."""
    rr, ry = float(np.sum(R * R)), float(np.sum(R * Y))
    norm = float(np.abs(W).sum()) if penalty == "l1" else float(np.linalg.norm(W, axis=1).sum())
    primal = 0.5 * rr + rho1 * norm
    top = float(_dual_norms(C, penalty).max()) if C.size else 0.0
    cap = rho1 / top if top > 0 else np.inf
    s = min(max(ry / rr, 0.0), cap) if rr > 0 else 0.0
    return primal, max(primal - (s * ry - 0.5 * s * s * rr), 0.0)


def _inner(Xf: np.ndarray, y: np.ndarray, w: np.ndarray, rho1: float, tol_abs: float, max_iter: int):
    """scikit-learn's coordinate descent on the sub-problem, to an absolute gap ``tol_abs``."""
    n = Xf.shape[0]
    yy = float(np.sum(y * y))
    kw = dict(l1_ratio=1.0, alphas=[rho1 / n], tol=tol_abs / max(yy, np.finfo(float).tiny),
              max_iter=max(max_iter, 1), precompute=False)
    if y.shape[1] == 1:
        _, coefs, _, its = enet_path_engine(Xf, np.ascontiguousarray(y[:, 0]),
                                            coef_init=np.ascontiguousarray(w[:, 0]), **kw)
        return coefs[:, :1], int(its[0])
    _, coefs, _, its = enet_path_engine(Xf, np.asfortranarray(y), coef_init=np.asfortranarray(w.T), **kw)
    return coefs[..., 0].T, int(its[0])


def ws_solve(
    X: np.ndarray, Y: np.ndarray, B: np.ndarray, penalty: str, rho1: float, W0: np.ndarray,
    *, tol: float, max_iter: int,
) -> tuple[np.ndarray, int, list[float], float]:
    """Working-set coordinate descent from W0 (module docstring) until every group's relative gap is at
    most ``tol`` or it ran ``max_iter`` inner epochs. ``B = XᵀY``. Returns (W, inner epochs (the most of a
    group: ℓ1 counts as scikit-learn's column-by-column fits), objective
    after each outer iteration, relative gap Σ gaps / Σ P of the last check of each group)."""
    d, T = W0.shape
    W = np.array(W0, dtype=float, copy=True)
    groups = [np.arange(T)] if penalty == "l21" else [np.array([t]) for t in range(T)]
    last_ws: list[np.ndarray | None] = [None] * len(groups)
    pending = list(range(len(groups)))
    path: list[float] = []
    primals, gaps = np.zeros(len(groups)), np.zeros(len(groups))
    epochs = np.zeros(len(groups), dtype=int)  # inner epochs per group; max_iter bounds each
    starts = np.array([0.5 * float(np.sum(Y[:, cols] ** 2)) for cols in groups])  # P(0) of each group
    while pending:
        rows = np.flatnonzero(np.any(W != 0.0, axis=1))
        if rows.size:
            R = Y - X[:, rows] @ W[rows]
            C = X.T @ R
        else:
            R, C = Y, B
        still = []
        for g in pending:
            cols = groups[g]
            primal, gap = _group_gap(R[:, cols], Y[:, cols], C[:, cols], W[:, cols], penalty, rho1)
            primals[g], gaps[g] = primal, gap
            if relative_gap(gap, primal, starts[g]) > tol and epochs[g] < max_iter:
                still.append((g, primal, gap))
        path.append(float(primals.sum()))
        pending = []
        for g, primal, gap in still:
            cols = groups[g]
            score = _dual_norms(C[:, cols], penalty)
            score = score[:, 0] if score.ndim == 2 else score
            support = np.any(W[:, cols] != 0.0, axis=1)
            score = np.where(support, np.inf, score)
            size = min(d, max(P0, 2 * int(support.sum())))
            ws = np.sort(np.argpartition(-score, size - 1)[:size]) if size < d else np.arange(d)
            prev = last_ws[g]
            if prev is not None and prev.size == ws.size and np.array_equal(prev, ws) and size < d:
                size = min(d, 2 * size)  # the same set again could not lower the gap: widen it
                ws = np.sort(np.argpartition(-score, size - 1)[:size]) if size < d else np.arange(d)
            last_ws[g] = ws
            sub, its = _inner(np.asfortranarray(X[:, ws]), Y[:, cols], W[np.ix_(ws, cols)], rho1,
                              0.5 * tol * max(primal - gap, 0.0), max_iter - int(epochs[g]))
            epochs[g] += its
            W[:, cols] = 0.0
            W[np.ix_(ws, cols)] = sub
            pending.append(g)
    rel = relative_gap(gaps, primals, starts)
    return W, max(int(epochs.max()), 1), path, rel
