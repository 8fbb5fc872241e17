"""Incoherent sparse and low-rank multi-task learning (MALSAR ``Least_SparseTrace``).

Chen, Liu, Ye. Learning incoherent sparse and low-rank patterns from multiple tasks. KDD 2010;
ACM TKDD 2012.
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import L1, TRACE_BALL
from multitask.classic._prox_gradient import PenaltyTerm, ProxGradientEstimator

__all__ = ["SparseTraceRegressor", "SparseTraceClassifier"]


@hyperparameters
class _SparseTrace(ProxGradientEstimator):
    """W = P + Q: entry-wise ℓ1 on P (task-specific features) and, as a constraint rather than a
    penalty, Q in the nuclear-norm ball of radius rho2 (the shared low-rank part): its term has no value
    and its prox is the projection onto the ball.

    The defaults are the regressor's; the classifier lowers rho1 only."""

    rho1: float = 1.0
    rho2: float = 1.0

    _terms = (PenaltyTerm("rho1", L1, "P_"), PenaltyTerm("rho2", TRACE_BALL, "Q_"))


class SparseTraceRegressor(MultiTaskRegressorMixin, _SparseTrace):
    """Incoherent sparse + low-rank W = P + Q (ℓ1 on P, ‖Q‖_* ≤ rho2) — least squares.

    Chen, Liu, Ye. Learning incoherent sparse and low-rank patterns from multiple tasks. KDD 2010;
    ACM TKDD 2012.

    Objective (W = P + Q, d x T, one column per task)::

        min_{P, Q, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho1 ‖P‖₁   subject to  ‖Q‖_* ≤ rho2

    The sparse P holds task-specific features, the low-rank Q (a nuclear-norm *constraint*) the shared
    subspace. Prox: soft thresholding on P and projection onto the nuclear-norm ball on Q.

    MALSAR's ``Least_SparseTrace(X, Y, gamma, tau)`` (its manual's rho1, rho2) minimises
    ``Σₜ ‖yₜ − Xₜwₜ‖² + gamma‖P‖₁`` subject to ``‖Q‖_* ≤ tau`` (no ½: its gradient is 2Xᵀ(XW − Y); no
    intercept): its solution is this estimator's with ``rho1 = gamma / 2``, ``rho2 = tau`` (a radius,
    unchanged by the loss's scale) and ``fit_intercept=False``.

    Args:
        rho1: ℓ1 strength on P (half MALSAR's ``gamma``; default 1.0 here).
        rho2: radius of the nuclear-norm ball for Q (MALSAR's ``tau``; default 1.0 here).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`. Under ``init="lstsq"`` the sparse P begins at the
    per-task least-squares solution, the low-rank Q at zero.

    Attributes:
        coef_ = (P + Q)ᵀ of shape (n_tasks, n_features); P_ (sparse) and Q_ (low rank, ‖Q‖_* ≤ rho2) in
        coef_'s layout; intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_
    """


@hyperparameters
class SparseTraceClassifier(MultiTaskClassifierMixin, _SparseTrace):
    """Incoherent sparse + low-rank W = P + Q (ℓ1 on P, ‖Q‖_* ≤ rho2) — logistic.

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho1‖P‖₁`` subject to ``‖Q‖_* ≤ rho2`` (labels
    ±1). MALSAR has no logistic SparseTrace (only ``Least_SparseTrace``): this variant uses the loss of
    MALSAR's other ``Logistic_*`` functions (a mean per task, with intercepts). Parameters as
    :class:`SparseTraceRegressor`, except the default ``rho1 = 0.01``, as the loss is a per-task mean.
    Attributes as :class:`SparseTraceRegressor`, plus ``classes_``.
    """

    rho1: float = 0.01
