"""Grid-search checks of our behaviour: every CV score is our ``score`` of a fit at that candidate on that
fold, the strengths change the scores, and ``best_estimator_`` is our refit at the chosen candidate."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid


def check_grid_search(
    estimator, param_grid: dict, X: np.ndarray, Y: np.ndarray, n_splits: int = 3
) -> GridSearchCV:
    cv = KFold(n_splits)
    grid = GridSearchCV(estimator, param_grid, cv=cv).fit(X, Y)
    candidates = list(ParameterGrid(param_grid))
    for k, params in enumerate(candidates):
        for s, (tr, te) in enumerate(cv.split(X)):
            model = clone(estimator).set_params(**params).fit(X[tr], Y[tr])
            assert grid.cv_results_[f"split{s}_test_score"][k] == model.score(X[te], Y[te])
    means = grid.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(means)) and np.ptp(means) > 1e-6  # the hyper-parameters take effect
    refit = clone(estimator).set_params(**candidates[int(np.argmax(means))]).fit(X, Y)
    np.testing.assert_array_equal(grid.best_estimator_.coef_, refit.coef_)
    return grid
