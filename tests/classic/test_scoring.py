"""The task column inside scikit-learn's model selection (GridSearchCV, cross_val_score on School) and
the named scores of :mod:`multitask.classic.scoring` against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from multitask.classic import L21Regressor, LassoClassifier
from multitask.classic.scoring import explained_variance, get_scorer, nmse
from multitask.data.tabular import load_school


@pytest.fixture(scope="module")
def school():
    d = load_school(split=1)
    Xt = np.column_stack([d["task_train"], d["X_train"]])  # column 0: the school
    Xv = np.column_stack([d["task_test"], d["X_test"]])
    return Xt, d["y_train"], Xv, d["y_test"]


def test_grid_search_on_school_has_finite_scores_and_picks_the_better_strength(school):
    Xt, yt, Xv, yv = school
    cv = KFold(2, shuffle=True, random_state=0)
    gs = GridSearchCV(L21Regressor(task_column=0), {"rho1": [100.0, 1e6]}, cv=cv).fit(Xt, yt)
    scores = gs.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    # rho1 = 1e6 zeroes W: each school predicts its training mean, per-task R² about 0 or below
    assert gs.best_params_ == {"rho1": 100.0} and scores[0] > scores[1] + 0.05
    assert gs.best_estimator_.coef_.shape == (139, 28)
    # our per-task R² on each fold, by hand
    tr, te = next(cv.split(Xt))
    m = L21Regressor(rho1=100.0, task_column=0).fit(Xt[tr], yt[tr])
    task, pred = Xt[te, 0].astype(int), m.predict(Xt[te])
    ref = np.mean([r2_score(yt[te][task == k], pred[task == k]) for k in np.unique(task)])
    assert gs.cv_results_["split0_test_score"][0] == pytest.approx(ref)
    # predict through the search object, one prediction per row, as the per-task form
    ref_model = L21Regressor(rho1=100.0).fit(Xt[:, 1:], yt, task=Xt[:, 0].astype(int))
    np.testing.assert_allclose(gs.predict(Xv), ref_model.predict(Xv[:, 1:], task=Xv[:, 0].astype(int)))
    assert gs.score(Xv, yv) == pytest.approx(ref_model.score(Xv[:, 1:], yv, task=Xv[:, 0].astype(int)))


def test_cross_val_score_on_school_with_the_pooled_explained_variance(school):
    Xt, yt, _, _ = school
    cv = KFold(2, shuffle=True, random_state=1)
    est = L21Regressor(rho1=100.0, task_column=0)
    ev = cross_val_score(est, Xt, yt, cv=cv, scoring=get_scorer("explained_variance"))
    assert np.all(np.isfinite(ev)) and np.all((ev > 0.2) & (ev < 0.6))  # School's known range
    tr, te = next(cv.split(Xt))
    pred = L21Regressor(rho1=100.0, task_column=0).fit(Xt[tr], yt[tr]).predict(Xt[te])
    assert ev[0] == pytest.approx(1.0 - np.mean((yt[te] - pred) ** 2) / np.var(yt[te]))
    nm = cross_val_score(est, Xt, yt, cv=cv, scoring=get_scorer("neg_nmse"))
    np.testing.assert_allclose(nm, ev - 1.0)


def test_named_scores_hand_values():
    y, pred = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 2.0, 5.0])
    # MSE = 0.5, population variance = 1.25
    assert explained_variance(y, pred) == pytest.approx(1.0 - 0.5 / 1.25)
    assert nmse(y, pred) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="constant"):
        explained_variance(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="unknown multi-task score"):
        get_scorer("r2")


def test_shared_design_scorer_pools_every_entry():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    Y = X @ rng.normal(size=(3, 2)) + rng.normal(size=(30, 2))
    m = L21Regressor(rho1=1.0).fit(X, Y)
    P = m.predict(X)
    assert get_scorer("explained_variance")(m, X, Y) == pytest.approx(1 - np.mean((Y - P) ** 2) / np.var(Y))
    assert get_scorer("r2_per_task")(m, X, Y) == pytest.approx(r2_score(Y, P))


def test_task_column_equals_the_task_argument_and_rejects_bad_input():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    t = np.repeat([0, 1], 20)
    y = np.sign(X[:, 0] + 0.3 * rng.normal(size=40))
    Xc = np.column_stack([X[:, :1], t, X[:, 1:]])  # the task in the middle column
    a = LassoClassifier(rho1=0.01, task_column=1).fit(Xc, y)
    b = LassoClassifier(rho1=0.01).fit(X, y, task=t)
    np.testing.assert_allclose(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.predict(Xc), b.predict(X, task=t))
    assert a.predict_proba(Xc).shape == (40, 2)
    with pytest.raises(ValueError, match="not both"):
        a.predict(Xc, task=t)
    bad = Xc.copy()
    bad[0, 1] = 0.5
    with pytest.raises(ValueError, match="task_column=1"):
        LassoClassifier(task_column=1).fit(bad, y)
    with pytest.raises(ValueError, match="task_column=5"):
        LassoClassifier(task_column=5).fit(Xc, y)
    with pytest.raises(TypeError, match="task_column"):
        LassoClassifier(task_column="school").fit(Xc, y)
    with pytest.raises(ValueError, match="unknown task"):
        a.predict(np.column_stack([X[:, :1], np.full(40, 2), X[:, 1:]]))
