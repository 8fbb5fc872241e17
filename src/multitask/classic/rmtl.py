"""Robust multi-task learning: low-rank plus group-sparse, RMTL (MALSAR ``Least_RMTL``).

Chen, Zhou, Ye. Integrating low-rank and group-sparse structures for robust multi-task learning. KDD 2011.
"""

from __future__ import annotations

from multitask.classic._base import MultiTaskClassifierMixin, MultiTaskRegressorMixin, hyperparameters
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l21_cols, prox_trace
from multitask.classic._prox_gradient import Composite, ProxGradientEstimator
from multitask.classic.rmtfl import group_norm
from multitask.classic.trace import nuclear_norm

__all__ = ["RMTLRegressor", "RMTLClassifier"]


@hyperparameters
class _RMTL(ProxGradientEstimator):
    """Hyper-parameters (regressor defaults) and penalty of the RMTL estimators."""

    rho1: float = 1.0
    rho2: float = 1.0

    _nonneg_params = ("rho1", "rho2")
    _part_attrs = ("L_", "S_")

    def _problem(self, loss: SmoothLoss) -> Composite:
        rho1, rho2 = float(self.rho1), float(self.rho2)
        return Composite(
            loss,
            lambda p, step: (prox_trace(p[0], rho1 * step), prox_l21_cols(p[1], rho2 * step)),
            lambda p: rho1 * nuclear_norm(p[0]) + rho2 * group_norm(p[1], 0),
        )


class RMTLRegressor(MultiTaskRegressorMixin, _RMTL):
    """Robust MTL W = L + S (low-rank L, column-group sparse S) — least squares.

    Chen, Zhou, Ye. Integrating low-rank and group-sparse structures for robust multi-task learning.
    KDD 2011.

    Objective (W = L + S, d x T, one column per task)::

        min_{L, S, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho1 ‖L‖_* + rho2 Σₜ ‖S:,ₜ‖₂

    L captures the low-rank structure shared by the related tasks; the column-group sparse S picks out the
    outlier tasks. Prox: singular-value thresholding and column group shrinkage.

    MALSAR's ``Least_RMTL(X, Y, rho1, rho2)`` minimises ``Σₜ ‖yₜ − Xₜwₜ‖² + rho1‖L‖_* + rho2 Σₜ‖S:,ₜ‖₂``
    (no ½: its gradient is 2Xᵀ(XW − Y); no intercept): its solution is this estimator's with
    ``rho1 = MALSAR rho1 / 2``, ``rho2 = MALSAR rho2 / 2`` and ``fit_intercept=False``.

    Args:
        rho1: trace-norm strength on L (half MALSAR's ``rho1``; default 1.0 here).
        rho2: column-group strength on S (half MALSAR's ``rho2``; default 1.0 here).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose, task_column: see
            :class:`~multitask.classic._base.MultiTaskLinearModel`. ``init="lstsq"`` starts L at the
            per-task least-squares solution and S at 0.

    Attributes:
        coef_ (n_tasks, n_features) = (L + S)ᵀ, L_ and S_ (n_tasks, n_features, the two components,
        transposed like coef_), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_
    """


@hyperparameters
class RMTLClassifier(MultiTaskClassifierMixin, _RMTL):
    """Robust MTL W = L + S (low-rank L, column-group sparse S) — logistic.

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho1‖L‖_* + rho2 Σₜ‖S:,ₜ‖₂`` (labels ±1). MALSAR
    has no logistic RMTL (only ``Least_RMTL``): this variant uses the loss of MALSAR's other
    ``Logistic_*`` functions (a mean per task, with intercepts). Parameters as :class:`RMTLRegressor`,
    except the defaults ``rho1 = rho2 = 0.01``, as the loss is a per-task mean. Attributes as
    :class:`RMTLRegressor`, plus ``classes_``.
    """

    rho1: float = 0.01
    rho2: float = 0.01
