"""ℓ1-regularised multi-task learning (MALSAR ``Least_Lasso`` / ``Logistic_Lasso``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l1
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["LassoRegressor", "LassoClassifier"]


_DOC = """

    Tibshirani. Regression shrinkage and selection via the lasso. J. R. Statist. Soc. B, 1996 — applied to
    every task at once, as the MALSAR baseline (Zhou, Chen, Ye. MALSAR: Multi-tAsk Learning via
    StructurAl Regularization, Arizona State University, 2011). Tasks share nothing but the strength.

    Objective (W is d x T, one column per task; MALSAR ``{loss_name}_Lasso``)::

        min_{{W, c}}  {loss}  +  rho_l2 ‖W‖²_F  +  rho1 ‖W‖₁

    Solved by accelerated proximal gradient with soft thresholding.

    Args:
        rho1: ℓ1 strength (MALSAR ``rho1``; {rho_default}).
        rho_l2: squared-Frobenius strength (MALSAR ``opts.rho_L2``, default 0; no ½ factor).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_{extra}
    """


class _LassoModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the ℓ1 twins."""

    _nonneg_params = ("rho1", "rho_l2")

    def __init__(
        self,
        rho1: float = 1.0,
        rho_l2: float = 0.0,
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
        self.rho_l2 = rho_l2
        super().__init__(
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )

    def _problem(self, loss: SmoothLoss) -> Composite:
        rho1 = float(self.rho1)
        return Composite(
            loss,
            lambda p, step: (prox_l1(p[0], rho1 * step),),
            lambda p: rho1 * float(np.abs(p[0]).sum()),
            rho_l2=float(self.rho_l2),
        )


class LassoRegressor(_LassoModel, MultiTaskRegressorBase):
    pass


class LassoClassifier(_LassoModel, MultiTaskClassifierBase):
    def __init__(
        self,
        rho1: float = 0.01,
        rho_l2: float = 0.0,
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
            rho1, rho_l2, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )


document_twins(
    _DOC,
    LassoRegressor,
    "Multi-task least squares with an ℓ1 penalty.",
    LassoClassifier,
    "Multi-task logistic regression with an ℓ1 penalty.",
    rho_defaults=(
        "default 1.0 here; scikit-learn's ``Lasso(alpha)`` per task is ``rho1 = n_samples·alpha``",
        "default 0.01 here, as the loss is a per-task mean",
    ),
)
