"""Trace-norm (low-rank) multi-task learning (MALSAR ``Least_Trace`` / ``Logistic_Trace``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskLinearModel, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_trace

__all__ = ["TraceRegressor", "TraceClassifier"]


def nuclear_norm(W: np.ndarray) -> float:
    """‖W‖_* = sum of the singular values."""
    return float(np.linalg.svd(W, compute_uv=False).sum())


def _fit_trace(est: MultiTaskLinearModel, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss):
    rho1 = float(est.rho1)
    parts0, c0 = est._initial_parts(Xs, ys, loss, 1)
    (W,), c = est._solve_apg(
        loss,
        parts0,
        c0,
        lambda p, step: (prox_trace(p[0], rho1 * step),),
        lambda p: rho1 * nuclear_norm(p[0]),
    )
    return W, c


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


class TraceRegressor(MultiTaskRegressorBase):
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
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            stop=stop,
            init=init,
            warm_start=warm_start,
            verbose=verbose,
        )

    def _validate_params_extra(self) -> None:
        self._check_nonneg(rho1=self.rho1)

    _fit_coef = _fit_trace


class TraceClassifier(MultiTaskClassifierBase):
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
        self.rho1 = rho1
        super().__init__(
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            stop=stop,
            init=init,
            warm_start=warm_start,
            verbose=verbose,
        )

    def _validate_params_extra(self) -> None:
        self._check_nonneg(rho1=self.rho1)

    _fit_coef = _fit_trace


TraceRegressor.__doc__ = "Multi-task least squares with a trace-norm (low-rank) penalty." + _DOC.format(
    loss_name="Least", loss="Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²", rho_default="default 1.0 here", extra=""
)
TraceClassifier.__doc__ = (
    "Multi-task logistic regression with a trace-norm (low-rank) penalty."
    + _DOC.format(
        loss_name="Logistic",
        loss="Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))",
        rho_default="default 0.01 here, as the loss is a per-task mean",
        extra=", classes_",
    )
)
