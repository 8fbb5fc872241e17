"""Temporal group lasso, TGL (MALSAR ``Least_TGL`` / ``Logistic_TGL``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._graph import PenalisedLoss, quadratic_penalty, temporal_difference
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l21_rows
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["TGLRegressor", "TGLClassifier"]


_DOC = """

    Zhou, Yuan, Liu, Ye. A multi-task learning formulation for predicting disease progression. KDD 2011.

    The tasks are ordered in time (task t = the prediction at time point t). Objective (W is d x T, one
    column per task; MALSAR ``{loss_name}_TGL``)::

        min_{{W, c}}  {loss}  +  rho1 ‖W‖²_F  +  rho2 ‖W H‖²_F  +  rho3 ‖W‖₂,₁

    with H the T x (T−1) temporal difference matrix (``H[t, t] = 1, H[t+1, t] = −1``, so
    ``‖WH‖²_F = Σₜ ‖wₜ − w_{{t+1}}‖²``: consecutive time points get similar models) and
    ``‖W‖₂,₁ = Σᵢ ‖Wᵢ,:‖₂`` selecting the same features at every time point. Solved by accelerated
    proximal gradient with row-group shrinkage.

    Args:
        rho1: squared-Frobenius (ridge) strength (MALSAR ``rho1``; no ½ factor; {rho_default}).
        rho2: temporal smoothness strength (MALSAR ``rho2``).
        rho3: ℓ2,1 group-lasso strength (MALSAR ``rho3``).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_{extra}
    """


class _TGLModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the TGL regressor and classifier."""

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
        H = temporal_difference(loss.n_tasks)
        return Composite(
            PenalisedLoss(loss, quadratic_penalty(rho2, H @ H.T)),
            lambda p, step: (prox_l21_rows(p[0], rho3 * step),),
            lambda p: rho3 * float(np.sum(np.linalg.norm(p[0], axis=1))),
            rho_l2=rho1,
        )


class TGLRegressor(_TGLModel, MultiTaskRegressorBase):
    pass


class TGLClassifier(_TGLModel, MultiTaskClassifierBase):
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
    TGLRegressor,
    "Temporal group lasso, least squares.",
    TGLClassifier,
    "Temporal group lasso, logistic.",
    rho_defaults=("defaults 1.0 here", "defaults 0.01 here, as the loss is a per-task mean"),
)
