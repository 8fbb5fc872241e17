"""Sparse structure-regularised MTL, SRMTL (MALSAR ``Least_SRMTL`` / ``Logistic_SRMTL``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskRegressorBase
from multitask.classic._graph import PenalisedLoss, quadratic_penalty, structure_gram
from multitask.classic._losses import SmoothLoss
from multitask.classic._prox import prox_l1
from multitask.classic._twins import Composite, ProxGradientModel, document_twins

__all__ = ["SRMTLRegressor", "SRMTLClassifier"]


_DOC = """

    Evgeniou & Pontil. Regularized multi-task learning. KDD 2004 (the mean-regularised case);
    Zhou, Chen, Ye. MALSAR: Multi-tAsk Learning via StructurAl Regularization. Arizona State University,
    2011 (``{loss_name}_SRMTL``: graph structure plus sparsity).

    Objective (W is d x T, one column per task)::

        min_{{W, c}}  {loss}  +  rho1 ‖W R‖²_F  +  rho_l2 ‖W‖²_F  +  rho2 ‖W‖₁

    ``R`` encodes the task structure, ``‖WR‖²_F = tr(W RRᵀ Wᵀ)``:

    * default (``graph=None, R=None``): ``R = I − 11ᵀ/T``, i.e. ``Σₜ ‖wₜ − w̄‖²`` — mean-regularised MTL;
    * ``graph``: a symmetric non-negative T x T task adjacency A; ``RRᵀ`` is its Laplacian, so the penalty
      is ``Σ_{{s<t}} A_st ‖w_s − w_t‖²``;
    * ``R``: MALSAR's structure matrix itself (T x m), e.g. the temporal differences ``e_t − e_{{t+1}}``
      or ``I`` (ridge).

    Solved by accelerated proximal gradient (the smooth part includes the structure term) with soft
    thresholding.

    Args:
        rho1: structure strength (MALSAR ``rho1``; no ½ factor; {rho_default}).
        rho2: ℓ1 sparsity strength (MALSAR ``rho2``).
        rho_l2: squared-Frobenius strength (MALSAR ``opts.rho_L2``, default 0).
        graph: optional T x T task adjacency (the number of tasks is known at fit time).
        R: optional MALSAR structure matrix, T x m (not together with ``graph``).
        fit_intercept, max_iter, tol, stop, init, warm_start, verbose: see
            :class:`~multitask.classic._base.MultiTaskLinearModel` (MALSAR: max_iter 1000, tol 1e-4,
            relative objective change).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_, n_iter_,
        structure_gram_ (the T x T matrix ``RRᵀ`` used){extra}
    """


class _SRMTLModel(ProxGradientModel):
    """Shared ``__init__`` (regressor defaults) and problem of the SRMTL regressor and classifier."""

    _nonneg_params = ("rho1", "rho2", "rho_l2")

    def __init__(
        self,
        rho1: float = 1.0,
        rho2: float = 1.0,
        rho_l2: float = 0.0,
        graph: object = None,
        R: object = None,
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
        self.rho_l2 = rho_l2
        self.graph = graph
        self.R = R
        super().__init__(
            fit_intercept=fit_intercept, max_iter=max_iter, tol=tol, stop=stop, init=init,
            warm_start=warm_start, verbose=verbose,
        )

    def _problem(self, loss: SmoothLoss) -> Composite:
        rho1, rho2 = float(self.rho1), float(self.rho2)
        RRt = structure_gram(loss.n_tasks, graph=self.graph, R=self.R, owner=f"{type(self).__name__}.graph/R")
        self.structure_gram_ = RRt
        return Composite(
            PenalisedLoss(loss, quadratic_penalty(rho1, RRt)),
            lambda p, step: (prox_l1(p[0], rho2 * step),),
            lambda p: rho2 * float(np.abs(p[0]).sum()),
            rho_l2=float(self.rho_l2),
        )


class SRMTLRegressor(_SRMTLModel, MultiTaskRegressorBase):
    pass


class SRMTLClassifier(_SRMTLModel, MultiTaskClassifierBase):
    def __init__(
        self,
        rho1: float = 0.01,
        rho2: float = 0.01,
        rho_l2: float = 0.0,
        graph: object = None,
        R: object = None,
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
            rho1, rho2, rho_l2, graph, R, fit_intercept=fit_intercept, max_iter=max_iter, tol=tol,
            stop=stop, init=init, warm_start=warm_start, verbose=verbose,
        )


document_twins(
    _DOC,
    SRMTLRegressor,
    "Multi-task least squares with graph-structure and ℓ1 regularisation.",
    SRMTLClassifier,
    "Multi-task logistic regression, graph-structure and ℓ1 penalties.",
    rho_defaults=("defaults 1.0 here", "defaults 0.01 here, as the loss is a per-task mean"),
)
