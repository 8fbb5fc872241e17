"""Convex fused sparse group lasso, cFSGL (MALSAR ``Least_CFGLasso`` / ``Logistic_CFGLasso``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._fused import fused_penalty_rows, prox_fused_sparse_group_rows
from multitask.classic._losses import SmoothLoss
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["CFGLassoRegressor", "CFGLassoClassifier", "cfgl_penalty"]


def cfgl_penalty(W: np.ndarray, rho1: float, rho2: float, rho3: float) -> float:
    """``rho1‖W‖₁ + rho2‖WR‖₁ + rho3‖W‖₂,₁`` (R: temporal differences of consecutive tasks)."""
    return float(
        rho1 * np.abs(W).sum() + rho2 * fused_penalty_rows(W) + rho3 * np.sum(np.linalg.norm(W, axis=1))
    )


_DOC = """

    Zhou, Liu, Narayan, Ye. Modeling disease progression via fused sparse group lasso. KDD 2012.

    The tasks are ordered in time. Objective (W is d x T, one column per task; MALSAR
    ``{loss_name}_CFGLasso``)::

        min_{{W, c}}  {loss}  +  rho1 ‖W‖₁  +  rho2 ‖W R‖₁  +  rho3 ‖W‖₂,₁

    with R the T x (T−1) temporal difference matrix, so ``‖WR‖₁ = Σᵢ Σₜ |W_{{i,t+1}} − W_{{i,t}}|`` (fused
    lasso along time), ``‖W‖₁`` element-wise sparsity and ``‖W‖₂,₁`` feature selection shared by all
    time points. Solved by accelerated proximal gradient; the proximal operator is exact and row-wise:
    1-D total-variation prox (Condat's direct algorithm), soft threshold, then group shrinkage
    (:mod:`multitask.classic._fused`; MALSAR computes the first step iteratively with ``flsa``).

    Args:
        rho1: ℓ1 sparsity strength (MALSAR ``rho1``; {rho_default}).
        rho2: fused-lasso strength (MALSAR ``rho2``).
        rho3: ℓ2,1 group-lasso strength (MALSAR ``rho3``).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_{extra}
    """


class _CFGLModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the cFSGL regressor and classifier."""

    _nonneg_params = ("rho1", "rho2", "rho3")

    def __init__(
        self,
        rho1: float = 1.0,
        rho2: float = 1.0,
        rho3: float = 1.0,
        *,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        stop: str = "rel_change",
        init: str = "zero",
        warm_start: bool = False,
        verbose: bool = False,
    ) -> None:
        self.rho1 = rho1
        self.rho2 = rho2
        self.rho3 = rho3
        super().__init__(
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )

    def _problem(self, loss: SmoothLoss) -> Composite:
        rho1, rho2, rho3 = float(self.rho1), float(self.rho2), float(self.rho3)
        return Composite(
            loss,
            lambda p, step: (prox_fused_sparse_group_rows(p[0], rho1 * step, rho2 * step, rho3 * step),),
            lambda p: cfgl_penalty(p[0], rho1, rho2, rho3),
        )


class CFGLassoRegressor(_CFGLModel, MultiTaskRegressorBase):
    pass


class CFGLassoClassifier(_CFGLModel, MultiTaskClassifierBase):
    def __init__(
        self,
        rho1: float = 0.01,
        rho2: float = 0.01,
        rho3: float = 0.01,
        *,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        stop: str = "rel_change",
        init: str = "zero",
        warm_start: bool = False,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            rho1, rho2, rho3, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop,
            init=init, warm_start=warm_start, verbose=verbose,
        )


document_twins(
    _DOC,
    CFGLassoRegressor,
    "Convex fused sparse group lasso, least squares.",
    CFGLassoClassifier,
    "Convex fused sparse group lasso, logistic.",
    rho_defaults=("defaults 1.0 here", "defaults 0.01 here, as the loss is a per-task mean"),
)
