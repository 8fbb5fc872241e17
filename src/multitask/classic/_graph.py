"""Task-structure matrices and smooth task-coupling penalties for the graph / temporal models.

A structure matrix ``R`` (T x m, one column per relation) defines the smooth penalty
``‖WR‖²_F = tr(W RRᵀ Wᵀ)`` on W (d x T, one column per task); only ``RRᵀ`` (T x T) is needed:

* :func:`mean_structure` — ``R = I − 11ᵀ/T``: ``‖WR‖²_F = Σₜ ‖wₜ − w̄‖²`` (mean-regularised MTL,
  Evgeniou & Pontil, KDD 2004);
* :func:`graph_laplacian` — a symmetric non-negative adjacency ``A``: ``RRᵀ = D − A`` (the graph
  Laplacian) and ``‖WR‖²_F = Σ_{s<t} A_st ‖w_s − w_t‖²``;
* :func:`temporal_difference` — MALSAR's ``R = zeros(T, T−1); R(1:T+1:end) = 1; R(2:T+1:end) = −1``:
  column t is ``e_t − e_{t+1}`` and ``‖WR‖²_F = Σₜ ‖wₜ − w_{t+1}‖²`` (the temporal smoothness of
  TGL, Zhou, Yuan, Liu, Ye, KDD 2011).

:class:`PenalisedLoss` adds such a smooth penalty of W to a data loss, keeping the loss's call signature
``loss(W, c) -> (value, (grad_W, grad_c))`` so that it can be handed to the shared FISTA solver.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from multitask.classic._losses import SmoothLoss

__all__ = [
    "mean_structure",
    "graph_laplacian",
    "temporal_difference",
    "structure_gram",
    "PenalisedLoss",
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


Penalty = Callable[[np.ndarray], tuple[float, np.ndarray]]


class PenalisedLoss:
    """``loss(W, c) + Σ penalty(W)`` for smooth penalties ``penalty(W) -> (value, grad_W)``.

    Keeps the :class:`~multitask.classic._losses.SmoothLoss` call signature and forwards its
    attributes (``n_tasks``, ``n_features``, ``shared``, ``fit_intercept``, ...).
    """

    def __init__(self, loss: SmoothLoss, *penalties: Penalty) -> None:
        self.loss = loss
        self.penalties = penalties

    def __getattr__(self, name: str) -> object:
        if name == "loss":  # not set yet (e.g. during unpickling): avoid infinite recursion
            raise AttributeError(name)
        return getattr(self.loss, name)

    def __call__(
        self, W: np.ndarray, c: np.ndarray | None = None
    ) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
        f, (gW, gc) = self.loss(W, c)
        for pen in self.penalties:
            v, g = pen(W)
            f += v
            gW = gW + g
        return float(f), (gW, gc)

    def value(self, W: np.ndarray, c: np.ndarray | None = None) -> float:
        """The penalised value alone."""
        return self(W, c)[0]


def quadratic_penalty(strength: float, gram: np.ndarray) -> Penalty:
    """``strength · tr(W G Wᵀ)`` with symmetric G (T x T): value and gradient ``2·strength·W G``."""

    def pen(W: np.ndarray) -> tuple[float, np.ndarray]:
        WG = W @ gram
        return strength * float(np.sum(WG * W)), 2.0 * strength * WG

    return pen


__all__ += ["quadratic_penalty"]
