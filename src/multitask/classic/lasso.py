"""ℓ1-regularised multi-task learning (MALSAR ``Least_Lasso`` / ``Logistic_Lasso``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskLinearModel, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l1

__all__ = ["LassoRegressor", "LassoClassifier"]


def _fit_lasso(est: MultiTaskLinearModel, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss):
    rho1 = float(est.rho1)
    parts0, c0 = est._initial_parts(Xs, ys, loss, 1)
    (W,), c = est._solve_apg(
        loss,
        parts0,
        c0,
        lambda p, step: (prox_l1(p[0], rho1 * step),),
        lambda p: rho1 * float(np.abs(p[0]).sum()),
        rho_l2=float(est.rho_l2),
    )
    return W, c


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


class LassoRegressor(MultiTaskRegressorBase):
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
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            stop=stop,
            init=init,
            warm_start=warm_start,
            verbose=verbose,
        )

    def _validate_params_extra(self) -> None:
        self._check_nonneg(rho1=self.rho1, rho_l2=self.rho_l2)

    _fit_coef = _fit_lasso


class LassoClassifier(MultiTaskClassifierBase):
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
        self.rho1 = rho1
        self.rho_l2 = rho_l2
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
        self._check_nonneg(rho1=self.rho1, rho_l2=self.rho_l2)

    _fit_coef = _fit_lasso


LassoRegressor.__doc__ = "Multi-task least squares with an ℓ1 penalty." + _DOC.format(
    loss_name="Least",
    loss="Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²",
    rho_default="default 1.0 here; scikit-learn's ``Lasso(alpha)`` per task is ``rho1 = n_samples·alpha``",
    extra="",
)
LassoClassifier.__doc__ = "Multi-task logistic regression with an ℓ1 penalty." + _DOC.format(
    loss_name="Logistic",
    loss="Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))",
    rho_default="default 0.01 here, as the loss is a per-task mean",
    extra=", classes_",
)
