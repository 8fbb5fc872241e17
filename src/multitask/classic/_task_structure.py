"""Task-structure matrices R of the graph / temporal models and their Gram matrices RRᵀ.

A structure matrix ``R`` (T x m, one column per relation) defines the smooth penalty
``‖WR‖²_F = tr(W RRᵀ Wᵀ)`` on W (d x T, one column per task); only ``RRᵀ`` (T x T) is needed:

* :func:`mean_structure` — ``R = I − 11ᵀ/T``: ``‖WR‖²_F = Σₜ ‖wₜ − w̄‖²`` (mean-regularised MTL,
  Evgeniou & Pontil, KDD 2004);
* :func:`graph_laplacian` — a symmetric non-negative adjacency ``A``: ``RRᵀ = D − A`` (the graph
  Laplacian) and ``‖WR‖²_F = Σ_{s<t} A_st ‖w_s − w_t‖²``;
* :func:`temporal_difference` — MALSAR's ``R = zeros(T, T−1); R(1:T+1:end) = 1; R(2:T+1:end) = −1``:
  column t is ``e_t − e_{t+1}`` and ``‖WR‖²_F = Σₜ ‖wₜ − w_{t+1}‖²`` (the temporal smoothness of
  TGL, Zhou, Yuan, Liu, Ye, KDD 2011).

The estimators add ``strength · tr(W RRᵀ Wᵀ)`` to their loss with
:func:`~multitask.classic._losses.quadratic_penalty` and :class:`~multitask.classic._losses.PenalisedLoss`.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "mean_structure",
    "graph_laplacian",
    "temporal_difference",
    "structure_gram",
]


def mean_structure(n_tasks: int) -> np.ndarray:
    """``R = I − 11ᵀ/T`` (T x T); it is a projection, so ``RRᵀ = R``."""
    return np.eye(n_tasks) - np.full((n_tasks, n_tasks), 1.0 / n_tasks)


def temporal_difference(n_tasks: int) -> np.ndarray:
    """MALSAR's temporal difference matrix H (T x (T−1)): ``H[t, t] = 1``, ``H[t+1, t] = −1``."""
    H = np.zeros((n_tasks, max(n_tasks - 1, 0)))
    idx = np.arange(n_tasks - 1)
    H[idx, idx] = 1.0
    H[idx + 1, idx] = -1.0
    return H


def graph_laplacian(adjacency: object, n_tasks: int, *, owner: str = "graph") -> np.ndarray:
    """Laplacian ``diag(A1) − A`` of a task graph; ``A`` must be T x T, finite, symmetric, ≥ 0."""
    A = np.asarray(adjacency, dtype=float)
    if A.shape != (n_tasks, n_tasks):
        raise ValueError(f"{owner}: the task adjacency must have shape {(n_tasks, n_tasks)}, got {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{owner}: the task adjacency must be finite")
    if np.any(A < 0):
        raise ValueError(f"{owner}: the task adjacency must be non-negative")
    if not np.allclose(A, A.T, rtol=1e-10, atol=1e-12):
        raise ValueError(f"{owner}: the task adjacency must be symmetric")
    A = 0.5 * (A + A.T)
    np.fill_diagonal(A, 0.0)
    return np.diag(A.sum(axis=1)) - A


def structure_gram(n_tasks: int, *, graph: object = None, R: object = None, owner: str = "R") -> np.ndarray:
    """``RRᵀ`` (T x T) from an explicit structure matrix ``R`` (T x m), a task ``graph`` adjacency
    (Laplacian), or — when both are None — the mean-regularised default ``I − 11ᵀ/T``."""
    if graph is not None and R is not None:
        raise ValueError(f"{owner}: give either a task graph or a structure matrix R, not both")
    if R is not None:
        Rm = np.asarray(R, dtype=float)
        if Rm.ndim == 1:
            Rm = Rm.reshape(-1, 1)
        if Rm.ndim != 2 or Rm.shape[0] != n_tasks:
            raise ValueError(f"{owner}: R must have shape (n_tasks={n_tasks}, m), got {np.shape(R)}")
        if not np.all(np.isfinite(Rm)):
            raise ValueError(f"{owner}: R must be finite")
        return Rm @ Rm.T
    if graph is not None:
        return graph_laplacian(graph, n_tasks, owner=owner)
    return mean_structure(n_tasks)
