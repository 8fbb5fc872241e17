"""ℓ2,1 joint feature selection (MALSAR ``Least_L21`` / ``Logistic_L21``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskLinearModel, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l21_rows

__all__ = ["L21Regressor", "L21Classifier"]


def l21_norm(W: np.ndarray) -> float:
    """‖W‖₂,₁ = Σᵢ ‖Wᵢ,:‖₂ (sum over feature rows of the row's Euclidean norm)."""
    return float(np.sum(np.sqrt(np.sum(W * W, axis=1))))


def _fit_l21(est: MultiTaskLinearModel, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss):
    rho1 = float(est.rho1)
    parts0, c0 = est._initial_parts(Xs, ys, loss, 1)
    (W,), c = est._solve_apg(
        loss,
        parts0,
        c0,
        lambda p, step: (prox_l21_rows(p[0], rho1 * step),),
        lambda p: rho1 * l21_norm(p[0]),
        rho_l2=float(est.rho_l2),
    )
    return W, c


_DOC = """

    Obozinski, Taskar, Jordan. Multi-task feature selection. Technical report, UC Berkeley, 2006;
    Argyriou, Evgeniou, Pontil. Multi-task feature learning. NeurIPS 2007;
    Liu, Ji, Ye. Multi-task feature learning via efficient ℓ2,1-norm minimization. UAI 2009.

    Objective (W is d x T, one column per task; MALSAR ``{loss_name}_L21``)::

        min_{{W, c}}  {loss}  +  rho_l2 ‖W‖²_F  +  rho1 Σᵢ ‖Wᵢ,:‖₂

    The ℓ2,1 penalty zeroes whole feature rows, so all tasks select the same features. Solved by
    accelerated proximal gradient with row-group shrinkage (:func:`~multitask.classic._prox.prox_l21_rows`).

    Args:
        rho1: ℓ2,1 strength (MALSAR ``rho1``; no default in MALSAR — {rho_default}).
        rho_l2: squared-Frobenius strength (MALSAR ``opts.rho_L2``, default 0; note: no ½ factor).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_{extra}
    """


class L21Regressor(MultiTaskRegressorBase):
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

    _fit_coef = _fit_l21


class L21Classifier(MultiTaskClassifierBase):
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

    _fit_coef = _fit_l21


L21Regressor.__doc__ = "Multi-task least squares with ℓ2,1 joint feature selection." + _DOC.format(
    loss_name="Least",
    loss="Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²",
    rho_default="default 1.0 here; scikit-learn's ``MultiTaskLasso(alpha)`` is ``rho1 = n_samples·alpha``",
    extra="",
)
L21Classifier.__doc__ = "Multi-task logistic regression with ℓ2,1 joint feature selection." + _DOC.format(
    loss_name="Logistic",
    loss="Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))",
    rho_default="default 0.01 here, as the loss is a per-task mean",
    extra=", classes_",
)
