"""ℓ2,1 joint feature selection (MALSAR ``Least_L21`` / ``Logistic_L21``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l21_rows
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["L21Regressor", "L21Classifier"]


def l21_norm(W: np.ndarray) -> float:
    """‖W‖₂,₁ = Σᵢ ‖Wᵢ,:‖₂ (sum over feature rows of the row's Euclidean norm)."""
    return float(np.sum(np.sqrt(np.sum(W * W, axis=1))))


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


class _L21Model(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the ℓ2,1 twins."""

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
            lambda p, step: (prox_l21_rows(p[0], rho1 * step),),
            lambda p: rho1 * l21_norm(p[0]),
            rho_l2=float(self.rho_l2),
        )


class L21Regressor(_L21Model, MultiTaskRegressorBase):
    pass


class L21Classifier(_L21Model, MultiTaskClassifierBase):
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
    L21Regressor,
    "Multi-task least squares with ℓ2,1 joint feature selection.",
    L21Classifier,
    "Multi-task logistic regression with ℓ2,1 joint feature selection.",
    rho_defaults=(
        "default 1.0 here; scikit-learn's ``MultiTaskLasso(alpha)`` is ``rho1 = n_samples·alpha``",
        "default 0.01 here, as the loss is a per-task mean",
    ),
)
