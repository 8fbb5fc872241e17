"""Regularisation paths with warm starts and the cross-validated Lasso / ℓ2,1 regressors.

:func:`regularisation_path` fits a Lasso or ℓ2,1 regressor at decreasing strengths ``rho1``, each fit
started from the previous solution (warm start) and stopped on the certified relative duality gap
(``stop="gap"``, the coordinate-descent engine of :mod:`multitask.classic._cd`), as scikit-learn's
``lasso_path`` / ``MultiTaskLassoCV`` (Friedman, Hastie, Tibshirani. Regularization paths for generalized
linear models via coordinate descent. J. Stat. Softw. 2010). :class:`LassoRegressorCV` and
:class:`L21RegressorCV` fit the path once per cross-validation fold, pick the strength of least mean
squared validation error and refit on all the data along the path down to it.

The default grid is ``rho_max · logspace(0, log10(eps), n_rho1s)``, ``rho_max`` the smallest strength at
which W = 0 is optimal (``max |Xₜᵀyₜ|`` for ℓ1, ``maxⱼ ‖(Xₜᵀyₜ)ⱼ‖₂ over t`` for ℓ2,1, on the centred
data when ``fit_intercept``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold

from multitask.classic._base import check_task_ids, hyperparameters
from multitask.classic.l21 import L21Regressor
from multitask.classic.lasso import LassoRegressor

__all__ = ["regularisation_path", "rho_max", "LassoRegressorCV", "L21RegressorCV"]


def _as_tasks(X: np.ndarray, y: np.ndarray, task: object) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if task is None:
        Y = y.reshape(len(y), -1)
        return [X] * Y.shape[1], list(Y.T)
    t = check_task_ids(task, X.shape[0])
    return [X[t == k] for k in range(t.max() + 1)], [y[t == k] for k in range(t.max() + 1)]


def rho_max(estimator: LassoRegressor | L21Regressor, X: object, y: object, task: object = None) -> float:
    """The smallest ``rho1`` at which W = 0 minimises ``estimator``'s objective on (X, y[, task])."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    B = []
    for Xt, yt in zip(*_as_tasks(X, y, task)):
        if estimator.fit_intercept and len(yt):
            Xt, yt = Xt - Xt.mean(axis=0), yt - yt.mean()
        B.append(Xt.T @ yt)
    B = np.stack(B, axis=1)
    lasso = isinstance(estimator, LassoRegressor)
    return float(np.abs(B).max() if lasso else np.linalg.norm(B, axis=1).max())


def _grid(estimator: LassoRegressor | L21Regressor, X: object, y: object, task: object,
          rho1s: Sequence[float] | None, n_rho1s: int, eps: float) -> np.ndarray:
    if rho1s is not None:
        grid = np.asarray(rho1s, dtype=float).ravel()
        if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
            raise ValueError(f"rho1s must be a non-empty sequence of finite positive numbers, got {rho1s!r}")
        return np.sort(grid)[::-1]
    if not (isinstance(n_rho1s, (int, np.integer)) and n_rho1s >= 1):
        raise ValueError(f"n_rho1s must be a positive integer, got {n_rho1s!r}")
    if not (0 < eps < 1):
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    top = rho_max(estimator, X, y, task)
    if top <= 0:
        raise ValueError("rho_max is 0 (the targets are constant): no regularisation path to fit")
    return top * np.logspace(0.0, np.log10(eps), int(n_rho1s))


def regularisation_path(
    estimator: LassoRegressor | L21Regressor,
    X: object,
    y: object,
    task: object = None,
    *,
    rho1s: Sequence[float] | None = None,
    n_rho1s: int = 20,
    eps: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``estimator`` (a :class:`~multitask.classic.LassoRegressor` or
    :class:`~multitask.classic.L21Regressor`, its other parameters kept) at each strength, largest first,
    warm-starting each fit from the previous one, with ``stop="gap"`` (``tol`` its own).

    Returns:
        (rho1s, coefs, intercepts, gaps): the decreasing strengths, coefs (n_rho1s, n_tasks, n_features),
        intercepts (n_rho1s, n_tasks) and the certified relative gap of each fit.
    """
    if not isinstance(estimator, (LassoRegressor, L21Regressor)):
        raise TypeError(f"regularisation_path: needs a LassoRegressor or L21Regressor, got {type(estimator)}")
    grid = _grid(estimator, X, y, task, rho1s, n_rho1s, eps)
    est = clone(estimator).set_params(stop="gap", warm_start=True)
    coefs, intercepts, gaps = [], [], []
    for rho in grid:
        est.set_params(rho1=float(rho)).fit(X, y, task=task)
        coefs.append(est.coef_.copy())
        intercepts.append(est.intercept_.copy())
        gaps.append(est.gap_)
    return grid, np.stack(coefs), np.stack(intercepts), np.asarray(gaps)


class _PathCV:
    """Cross-validation over a warm-started path (shared by the two public CV estimators)."""

    def fit(self, X: object, y: object, task: object = None) -> _PathCV:
        """Choose ``rho1`` by K-fold CV along the path, then refit on all the data (``rho1_``,
        ``rho1s_``, ``mse_path_`` (n_rho1s, n_folds); the other fitted attributes as the base estimator)."""
        self._validate_common()
        Xv, yv = self._validate_xy(X, y)
        Xf, t = self._take_task_column(Xv, task)
        if isinstance(self.cv, bool) or not isinstance(self.cv, (int, np.integer)) or self.cv < 2:
            raise ValueError(f"{type(self).__name__}: cv must be an integer >= 2, got {self.cv!r}")
        names = self._base_class().get_params()
        base = self._base_class(**{k: v for k, v in self.get_params().items() if k in names})
        base.set_params(task_column=None)
        grid = _grid(base, Xf, yv, t, self.rho1s, self.n_rho1s, self.eps)
        if t is None:
            splits = KFold(self.cv, shuffle=True, random_state=0).split(Xf)
        else:
            t = check_task_ids(t, Xf.shape[0])
            splits = StratifiedKFold(self.cv, shuffle=True, random_state=0).split(Xf, t)
        mse = np.empty((grid.size, int(self.cv)))
        for k, (tr, va) in enumerate(splits):
            est = clone(base).set_params(stop="gap", warm_start=True)
            for i, rho in enumerate(grid):
                est.set_params(rho1=float(rho))
                if t is None:
                    est.fit(Xf[tr], yv[tr])
                    pred = est.predict(Xf[va])
                else:
                    est.fit(Xf[tr], yv[tr], task=t[tr])
                    pred = est.predict(Xf[va], task=t[va])
                mse[i, k] = float(np.mean((np.asarray(yv[va]).reshape(pred.shape) - pred) ** 2))
        best = int(np.argmin(mse.mean(axis=1)))
        self.rho1s_, self.mse_path_, self.rho1_ = grid, mse, float(grid[best])
        saved = (self.rho1, self.stop, self.warm_start)
        self.stop, self.warm_start = "gap", True
        for rho in grid[: best + 1]:  # the full-data path down to the chosen strength
            self.rho1 = float(rho)
            self._base_class.fit(self, X, y, task=task)
        self.rho1, self.stop, self.warm_start = saved
        return self


@hyperparameters
class LassoRegressorCV(_PathCV, LassoRegressor):
    """:class:`~multitask.classic.LassoRegressor` with ``rho1`` chosen by cross-validation along a
    warm-started regularisation path (scikit-learn's ``LassoCV`` pattern; Friedman, Hastie, Tibshirani,
    J. Stat. Softw. 2010).

    ``fit`` fits the path once per fold (every fit stops on the relative duality gap at ``tol``), picks
    the strength of least mean validation squared error and refits on all the data along the path down
    to it; ``rho1`` itself is ignored. The other parameters and the fitted attributes (``coef_``,
    ``intercept_``, ``gap_``, ...) are those of :class:`~multitask.classic.LassoRegressor`, at ``rho1_``.

    Args:
        rho1s: the strengths to try (default: ``n_rho1s`` log-spaced from ``rho_max`` down to
            ``eps·rho_max``, see :mod:`multitask.classic.path`).
        n_rho1s: the default grid's length (20).
        eps: the default grid's ratio of smallest to largest strength (1e-3).
        cv: number of folds (``KFold``, or ``StratifiedKFold`` by task for per-task rows; shuffled, seed 0).

    Attributes:
        rho1_ (float): the chosen strength.
        rho1s_ (ndarray): the grid, decreasing.
        mse_path_ (ndarray): validation mean squared errors, shape (n_rho1s, cv).
    """

    rho1s: tuple[float, ...] | None = None
    n_rho1s: int = 20
    eps: float = 1e-3
    cv: int = 5

    _base_class = LassoRegressor


@hyperparameters
class L21RegressorCV(_PathCV, L21Regressor):
    """:class:`~multitask.classic.L21Regressor` with ``rho1`` chosen by cross-validation, as
    :class:`LassoRegressorCV` does for the ℓ1 penalty (scikit-learn's ``MultiTaskLassoCV`` pattern).

    Same arguments (``rho1s``, ``n_rho1s``, ``eps``, ``cv``) and attributes (``rho1_``, ``rho1s_``,
    ``mse_path_``) as :class:`LassoRegressorCV`; the other parameters and fitted attributes are
    :class:`~multitask.classic.L21Regressor`'s, at ``rho1_``.
    """

    rho1s: tuple[float, ...] | None = None
    n_rho1s: int = 20
    eps: float = 1e-3
    cv: int = 5

    _base_class = L21Regressor
