"""Sparse structure-regularised MTL, SRMTL (MALSAR ``Least_SRMTL`` / ``Logistic_SRMTL``).

Evgeniou & Pontil. Regularized multi-task learning. KDD 2004 (the mean-regularised case); Zhou, Chen, Ye.
MALSAR: Multi-tAsk Learning via StructurAl Regularization. Arizona State University, 2011.
"""

from __future__ import annotations

from multitask.classic._base import hyperparameters
from multitask.classic._losses import PenalisedLoss, SmoothLoss, quadratic_penalty
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import L1
from multitask.classic._prox_gradient import PenaltyTerm, ProxGradientEstimator
from multitask.classic._task_structure import structure_gram

__all__ = ["SRMTLRegressor", "SRMTLClassifier"]


@hyperparameters
class _SRMTL(ProxGradientEstimator):
    """Task-structure term ``rho1‖WR‖²_F`` in the smooth part, ℓ1 by prox; regressor defaults."""

    rho1: float = 1.0
    rho2: float = 1.0
    rho_l2: float = 0.0
    graph: object = None
    R: object = None

    _nonneg_params = ("rho1",)  # the structure strength, in the smooth part
    _terms = (PenaltyTerm("rho2", L1),)
    _ridge = "rho_l2"

    def _smooth(self, loss: SmoothLoss) -> PenalisedLoss:
        RRt = structure_gram(loss.n_tasks, graph=self.graph, R=self.R, owner=f"{type(self).__name__}.graph/R")
        self.structure_gram_ = RRt
        return PenalisedLoss(loss, quadratic_penalty(float(self.rho1), RRt), quadratic=True)


class SRMTLRegressor(MultiTaskRegressorMixin, _SRMTL):
    """Multi-task least squares with graph-structure and ℓ1 regularisation.

    Evgeniou & Pontil. Regularized multi-task learning. KDD 2004 (the mean-regularised case); MALSAR's
    ``Least_SRMTL`` (graph structure plus sparsity; the same scaling).

    Objective (W is d x T, one column per task)::

        min_{W, c}  Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²  +  rho1 ‖W R‖²_F  +  rho_l2 ‖W‖²_F  +  rho2 ‖W‖₁

    ``R`` encodes the task structure, ``‖WR‖²_F = tr(W RRᵀ Wᵀ)``:

    * default (``graph=None, R=None``): ``R = I − 11ᵀ/T``, i.e. ``Σₜ ‖wₜ − w̄‖²`` — mean-regularised MTL;
    * ``graph``: a symmetric non-negative T x T task adjacency A; ``RRᵀ`` is its Laplacian, so the penalty
      is ``Σ_{s<t} A_st ‖w_s − w_t‖²``;
    * ``R``: MALSAR's structure matrix itself (T x m), e.g. the temporal differences ``e_t − e_{t+1}``
      or ``I`` (ridge).

    Solved by accelerated proximal gradient (the smooth part includes the structure term) with soft
    thresholding.

    Args:
        rho1: structure strength (MALSAR ``rho1``; no ½ factor; default 1.0 here).
        rho2: ℓ1 sparsity strength (MALSAR ``rho2``; default 1.0 here).
        rho_l2: squared-Frobenius strength (MALSAR ``opts.rho_L2``, default 0).
        graph: optional T x T task adjacency (the number of tasks is known at fit time).
        R: optional MALSAR structure matrix, T x m (not together with ``graph``).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`.

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_,
        structure_gram_ (the T x T matrix ``RRᵀ`` used)

    MALSAR's ``Least_SRMTL`` solves the same problem without intercept (``fit_intercept=False``), with
    max_iter 1000 and tol 1e-4 on the relative objective change (``stop="rel_change"`` here); the default
    here is ``stop="gap"``, where tol bounds the relative suboptimality.
    """


@hyperparameters
class SRMTLClassifier(MultiTaskClassifierMixin, _SRMTL):
    """Multi-task logistic regression with graph-structure and ℓ1 penalties (MALSAR ``Logistic_SRMTL``).

    Objective ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + rho1‖WR‖²_F + rho_l2‖W‖²_F + rho2‖W‖₁`` (labels
    ±1; MALSAR's scaling and intercepts). Parameters as :class:`SRMTLRegressor`, except the defaults
    ``rho1 = rho2 = 0.01``, as the loss is a per-task mean. Attributes as :class:`SRMTLRegressor`, plus
    ``classes_``.
    """

    rho1: float = 0.01
    rho2: float = 0.01
