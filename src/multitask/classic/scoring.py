"""Scores of the multi-task regression literature, by name, as scikit-learn scorers.

A regressor's own ``score`` (the default of ``GridSearchCV`` / ``cross_val_score``) is the R² of each task
averaged over the tasks (``"r2_per_task"``). The School / MALSAR literature reports pooled scores over all
test predictions instead (Argyriou, Evgeniou, Pontil, Machine Learning 2008; Chen, Zhou, Ye, KDD 2011;
MALSAR's ``eval_MTL_mse``: Σₜ Σᵢ (ŷₜᵢ − yₜᵢ)² / Σₜ nₜ):

* ``"explained_variance"``: ``1 − MSE / Var(y)`` over all (row, task) predictions, Var the population
  variance of the pooled targets (the School tables' "explained variance"; it equals scikit-learn's
  ``r2_score`` on the pooled predictions, not its ``explained_variance_score``, which also subtracts the
  mean residual);
* ``"neg_nmse"``: minus the normalised MSE, ``−MSE / Var(y)`` (= explained variance − 1), negated so that
  greater is better as scikit-learn's ``neg_*`` scorers.

``get_scorer(name)`` returns a callable ``scorer(estimator, X, y, task=None)`` for ``GridSearchCV(...,
scoring=...)`` and ``cross_val_score(..., scoring=...)``: with ``task_column`` set (or ``task`` given) it
scores one prediction per row, in the shared design every (row, task) entry.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["explained_variance", "nmse", "get_scorer", "SCORES"]


def explained_variance(y: np.ndarray, pred: np.ndarray) -> float:
    """``1 − Σ(y − ŷ)² / Σ(y − ȳ)²`` over all entries (pooled), ȳ the pooled mean."""
    y, pred = np.asarray(y, dtype=float).ravel(), np.asarray(pred, dtype=float).ravel()
    if y.shape != pred.shape or y.size < 2:
        raise ValueError(f"explained_variance needs y and predictions of one shape, 2+ entries: {y.shape}")
    var = float(np.var(y))
    if var == 0.0:
        raise ValueError("explained_variance is undefined for constant targets (zero variance)")
    return float(1.0 - np.mean((y - pred) ** 2) / var)


def nmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Normalised MSE ``Σ(y − ŷ)² / Σ(y − ȳ)²`` over all entries (pooled)."""
    return 1.0 - explained_variance(y, pred)


SCORES = ("r2_per_task", "explained_variance", "neg_nmse")


def get_scorer(name: str) -> Callable[..., float]:
    """The scorer ``name`` (one of :data:`SCORES`) as ``scorer(estimator, X, y, task=None) -> float``."""
    if name not in SCORES:
        raise ValueError(f"unknown multi-task score {name!r}; choose one of {SCORES}")

    def scorer(estimator: object, X: object, y: object, task: object = None) -> float:
        if name == "r2_per_task":
            return float(estimator.score(X, y, task=task))
        pred = estimator.predict(X, task=task)
        value = explained_variance(np.asarray(y).reshape(np.shape(pred)), pred)
        return value if name == "explained_variance" else value - 1.0

    scorer.__name__ = f"multitask_{name}"
    return scorer
