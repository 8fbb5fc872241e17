"""Convex solvers of the gradient methods, in torch on the input's device, one problem family per module.

* :func:`project_simplex` (:mod:`~multitask.core.solvers.simplex`) — projection onto the simplex.
* :func:`min_norm_weights` (:mod:`~multitask.core.solvers.min_norm`) — min-norm point of a convex hull
  (MGDA, PMTL).
* :func:`conflict_averse_weights` (:mod:`~multitask.core.solvers.conflict_averse`) — CAGrad's dual.
* :func:`dual_cone_weights` (:mod:`~multitask.core.solvers.dual_cone`) — projection onto the dual cone
  (UPGrad, DualProj).
* :func:`alpha_fair_weights` (:mod:`~multitask.core.solvers.alpha_fair`) — ``G w = w^{-1/α}``
  (FairGrad, Nash-MTL).

All take a Gramian ``G = J Jᵀ`` (validated by :func:`multitask.core.gramian.check_gramian`), work in
float64 (float32 on MPS) and are tested against cvxpy in the tests only.
"""

from multitask.core.solvers.alpha_fair import alpha_fair_weights, normalized_fair_weights
from multitask.core.solvers.conflict_averse import conflict_averse_weights
from multitask.core.solvers.dual_cone import dual_cone_weights
from multitask.core.solvers.min_norm import min_norm_weights
from multitask.core.solvers.simplex import project_simplex

__all__ = [
    "alpha_fair_weights",
    "conflict_averse_weights",
    "dual_cone_weights",
    "min_norm_weights",
    "normalized_fair_weights",
    "project_simplex",
]
