"""MultiTaskLinearModel machinery (input forms, validation, intercepts, warm start, CV) and the losses."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from scipy.optimize import approx_fprime
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, KFold

from multitask.classic import L21Classifier, L21Regressor, LassoRegressor, TraceRegressor
from multitask.classic._losses import least_squares, logistic

TIGHT = dict(tol=1e-12, max_iter=20000)


def _shared(seed: int = 0, n: int = 30, d: int = 5, T: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.5
    W = rng.normal(size=(d, T))
    Y = X @ W + 0.1 * rng.normal(size=(n, T)) + np.arange(T)
    return X, Y


def _per_task(seed: int = 0, sizes=(12, 20, 7), d: int = 4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(sum(sizes), d))
    task = np.repeat(np.arange(len(sizes)), sizes)
    W = rng.normal(size=(len(sizes), d))
    y = np.einsum("nd,nd->n", X, W[task]) + 0.1 * rng.normal(size=len(task)) + task
    return X, y, task


# ---------------------------------------------------------------- losses
def test_least_squares_hand_value():
    X = np.array([[1.0], [2.0]])
    loss = least_squares([X], [np.array([1.0, 1.0])], fit_intercept=True)
    val, (gW, gc) = loss(np.array([[1.0]]), np.array([0.0]))
    assert val == pytest.approx(0.5)  # residuals 0 and −1
    np.testing.assert_allclose(gW, [[2.0]])  # −Xᵀr = −(1·0 + 2·(−1))
    np.testing.assert_allclose(gc, [1.0])


def test_logistic_hand_value():
    X = np.array([[0.0], [0.0]])
    loss = logistic([X], [np.array([1.0, -1.0])])
    val, (gW, gc) = loss(np.zeros((1, 1)), np.zeros(1))
    assert val == pytest.approx(np.log(2.0))  # mean of log 2 over two samples
    np.testing.assert_allclose(gc, [0.0], atol=1e-15)


@pytest.mark.parametrize(
    "kind,form",
    [
        ("ls", "shared_gram"),
        ("ls", "shared_direct"),
        ("ls", "tasks_gram"),
        ("ls", "tasks_direct"),
        ("log", "shared_gram"),
        ("log", "tasks_direct"),
    ],
)
def test_loss_gradients_match_finite_differences(kind, form):
    rng = np.random.default_rng(4)
    d, T = 3, 2
    n = 12 if form.endswith("gram") else 2
    if form.startswith("shared"):
        X = rng.normal(size=(n, d))
        Xs = [X] * T
    else:
        Xs = [rng.normal(size=(n + t, d)) for t in range(T)]
    ys = [rng.normal(size=X.shape[0]) for X in Xs]
    if kind == "log":
        ys = [np.sign(y) + (y == 0) for y in ys]
        loss = logistic(Xs, ys, fit_intercept=True)
    else:
        loss = least_squares(Xs, ys, fit_intercept=True)
        assert loss.use_gram == form.endswith("gram")
    z = rng.normal(size=d * T + T)

    def f(z):
        return loss(z[: d * T].reshape(d, T), z[d * T :])[0]

    _, (gW, gc) = loss(z[: d * T].reshape(d, T), z[d * T :])
    num = approx_fprime(z, f, 1e-7)
    np.testing.assert_allclose(np.concatenate([gW.ravel(), gc]), num, rtol=1e-4, atol=1e-5)
    assert loss.task_values(z[: d * T].reshape(d, T), z[d * T :]).sum() == pytest.approx(f(z))


def test_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="task 1"):
        least_squares([np.ones((3, 2)), np.ones((3, 2))], [np.ones(3), np.ones(4)])
    with pytest.raises(ValueError, match="-1 or \\+1"):
        logistic([np.ones((2, 2))], [np.array([0.0, 1.0])])
    with pytest.raises(ValueError, match="W must have shape"):
        least_squares([np.ones((3, 2))], [np.ones(3)])(np.ones((3, 1)))


# ---------------------------------------------------------------- input forms
def test_ols_limit_matches_linear_regression():
    X, Y = _shared()
    m = LassoRegressor(rho1=0.0, **TIGHT).fit(X, Y)
    ref = LinearRegression().fit(X, Y)
    np.testing.assert_allclose(m.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(m.intercept_, ref.intercept_, atol=1e-6)


def test_per_task_form_equals_shared_form_on_identical_designs():
    X, Y = _shared(n=15, T=3)
    shared = L21Regressor(rho1=2.0, **TIGHT).fit(X, Y)
    Xst = np.vstack([X] * 3)
    task = np.repeat(np.arange(3), X.shape[0])
    yst = np.concatenate([Y[:, t] for t in range(3)])
    per = L21Regressor(rho1=2.0, **TIGHT).fit(Xst, yst, task=task)
    np.testing.assert_allclose(per.coef_, shared.coef_, atol=1e-6)
    np.testing.assert_allclose(per.intercept_, shared.intercept_, atol=1e-6)
    assert per.n_tasks_ == shared.n_tasks_ == 3


def test_predict_shapes_and_task_selection():
    X, y, task = _per_task()
    m = L21Regressor(rho1=1.0).fit(X, y, task=task)
    full = m.predict(X)
    assert full.shape == (X.shape[0], 3)
    np.testing.assert_allclose(m.predict(X, task=task), full[np.arange(X.shape[0]), task])
    np.testing.assert_allclose(m.predict(X, task=2), full[:, 2])
    np.testing.assert_allclose(full, X @ m.coef_.T + m.intercept_)
    Xs, Ys = _shared()
    assert L21Regressor().fit(Xs, Ys[:, 0]).predict(Xs).shape == (Xs.shape[0],)


def test_score_is_task_averaged_r2():
    X, Y = _shared()
    m = L21Regressor(rho1=5.0).fit(X, Y)
    assert m.score(X, Y) == pytest.approx(r2_score(Y, m.predict(X)))
    X, y, task = _per_task()
    m = L21Regressor(rho1=5.0).fit(X, y, task=task)
    pred = m.predict(X, task=task)
    ref = np.mean([r2_score(y[task == k], pred[task == k]) for k in range(3)])
    assert m.score(X, y, task=task) == pytest.approx(ref)


def test_fit_intercept_false():
    X, Y = _shared()
    m = L21Regressor(rho1=1.0, fit_intercept=False).fit(X, Y)
    np.testing.assert_array_equal(m.intercept_, 0.0)
    np.testing.assert_allclose(m.predict(X), X @ m.coef_.T)


def test_validation_errors():
    X, Y = _shared()
    with pytest.raises(ValueError):
        L21Regressor().fit(X[:-1], Y)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        L21Regressor().fit(Xn, Y)
    X1, y1, t1 = _per_task()
    with pytest.raises(ValueError, match="one task id per row"):
        L21Regressor().fit(X1, y1, task=t1[:-1])
    with pytest.raises(ValueError, match="whole numbers"):
        L21Regressor().fit(X1, y1, task=t1 + 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        L21Regressor().fit(X1, y1, task=t1 - 1)
    with pytest.raises(TypeError, match="integers"):
        L21Regressor().fit(X1, y1, task=t1.astype(str))
    with pytest.raises(ValueError, match="1-D"):
        L21Regressor().fit(X, Y, task=np.zeros(X.shape[0], dtype=int))
    m = L21Regressor().fit(X1, y1, task=t1)
    with pytest.raises(ValueError, match="unknown task id"):
        m.predict(X1, task=np.full(X1.shape[0], 3))
    with pytest.raises(ValueError, match="features"):
        m.predict(X1[:, :2])
    with pytest.raises(ValueError, match="rho1"):
        L21Regressor(rho1=-1.0).fit(X, Y)
    with pytest.raises(TypeError, match="rho_l2"):
        L21Regressor(rho_l2="big").fit(X, Y)
    with pytest.raises(ValueError, match="stop"):
        L21Regressor(stop="never").fit(X, Y)
    with pytest.raises(ValueError, match="init"):
        L21Regressor(init="random").fit(X, Y)
    with pytest.raises(ValueError, match="max_iter"):
        L21Regressor(max_iter=0).fit(X, Y)


def test_convergence_warning():
    X, Y = _shared()
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        L21Regressor(rho1=1.0, max_iter=2, tol=0.0).fit(X, Y)


# ---------------------------------------------------------------- initialisation
def test_warm_start_and_lstsq_init_reach_the_same_optimum():
    X, Y = _shared()
    cold = TraceRegressor(rho1=3.0, **TIGHT).fit(X, Y)
    lst = TraceRegressor(rho1=3.0, init="lstsq", **TIGHT).fit(X, Y)
    assert lst.objective_path_[-1] == pytest.approx(cold.objective_path_[-1], rel=1e-9)
    np.testing.assert_allclose(lst.coef_, cold.coef_, atol=1e-4)
    warm = TraceRegressor(rho1=3.0, warm_start=True, tol=1e-8, max_iter=20000).fit(X, Y)
    first_iters = warm.n_iter_
    warm.fit(X, Y)
    assert warm.n_iter_ < first_iters
    np.testing.assert_allclose(warm.coef_, cold.coef_, atol=1e-4)


# ---------------------------------------------------------------- classifiers
def test_classifier_labels_probabilities_and_score():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 3))
    Y = np.where(X @ rng.normal(size=(3, 2)) > 0, "yes", "no")
    m = L21Classifier(rho1=0.001).fit(X, Y)
    assert list(m.classes_) == ["no", "yes"]
    P = m.predict_proba(X)
    assert P.shape == (60, 2)
    np.testing.assert_allclose(P, 1.0 / (1.0 + np.exp(-m.decision_function(X))))
    np.testing.assert_array_equal(m.predict(X), np.where(m.decision_function(X) > 0, "yes", "no"))
    assert m.score(X, Y) == pytest.approx(np.mean(m.predict(X) == Y))
    assert m.score(X, Y) > 0.9
    p1 = m.predict_proba(X[:5], task=1)
    assert p1.shape == (5, 2)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0)


def test_classifier_rejects_multiclass_and_one_class():
    X = np.random.default_rng(6).normal(size=(9, 2))
    with pytest.raises(ValueError, match="Only binary"):
        L21Classifier().fit(X, np.arange(9) % 3)
    with pytest.raises(ValueError, match="class"):
        L21Classifier().fit(X, np.zeros(9))


# ---------------------------------------------------------------- model selection
def test_grid_search_shared_design():
    X, Y = _shared(n=40)
    gs = GridSearchCV(L21Regressor(), {"rho1": [0.1, 10.0, 1000.0]}, cv=KFold(3)).fit(X, Y)
    assert gs.best_params_["rho1"] in (0.1, 10.0)
    assert gs.best_estimator_.coef_.shape == (3, 5)


def test_grid_search_per_task_with_metadata_routing():
    X, y, task = _per_task(sizes=(20, 20, 20))
    with sklearn.config_context(enable_metadata_routing=True):
        est = L21Regressor().set_fit_request(task=True).set_score_request(task=True)
        gs = GridSearchCV(est, {"rho1": [0.1, 1e4]}, cv=KFold(3, shuffle=True, random_state=0))
        gs.fit(X, y, task=task)
    assert gs.best_params_["rho1"] == 0.1
    assert gs.best_estimator_.n_tasks_ == 3
