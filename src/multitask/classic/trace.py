"""Trace-norm (low-rank) multi-task learning (MALSAR ``Least_Trace`` / ``Logistic_Trace``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_trace
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["TraceRegressor", "TraceClassifier"]


def nuclear_norm(W: np.ndarray) -> float:
    """‖W‖_* = sum of the singular values."""
    return float(np.linalg.svd(W, compute_uv=False).sum())


_DOC = """

    Ji & Ye. An accelerated gradient method for trace norm minimization. ICML 2009 (the solver);
    the trace norm as the convex envelope of rank for shared low-dimensional task structure
    (Abernethy, Bach, Evgeniou, Vert, JMLR 2009; Pong, Tseng, Ji, Ye, SIAM J. Optim. 2010).

    Objective (W is d x T, one column per task; MALSAR ``{loss_name}_Trace``)::

        min_{{W, c}}  {loss}  +  rho1 ‖W‖_*

    Solved by accelerated proximal gradient with singular-value thresholding.

    Args:
        rho1: trace-norm strength (MALSAR ``rho1``; {rho_default}).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_{extra}
    """


class _TraceModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the trace-norm twins."""

    _nonneg_params = ("rho1",)

    def __init__(
        self,
        rho1: float = 1.0,
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
        super().__init__(
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )

    def _problem(self, loss: SmoothLoss) -> Composite:
        rho1 = float(self.rho1)
        return Composite(
            loss,
            lambda p, step: (prox_trace(p[0], rho1 * step),),
            lambda p: rho1 * nuclear_norm(p[0]),
        )


class TraceRegressor(_TraceModel, MultiTaskRegressorBase):
    pass


class TraceClassifier(_TraceModel, MultiTaskClassifierBase):
    def __init__(
        self,
        rho1: float = 0.01,
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
            rho1, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )


document_twins(
    _DOC,
    TraceRegressor,
    "Multi-task least squares with a trace-norm (low-rank) penalty.",
    TraceClassifier,
    "Multi-task logistic regression with a trace-norm (low-rank) penalty.",
    rho_defaults=(
        "default 1.0 here",
        "default 0.01 here, as the loss is a per-task mean",
    ),
)
