"""Warm-started regularisation paths and the CV estimators equal independent (cold) fits."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import KFold, StratifiedKFold

from multitask.classic import (
    L21Regressor,
    L21RegressorCV,
    LassoRegressor,
    LassoRegressorCV,
    regularisation_path,
    rho_max,
)


def _shared(seed=0, n=40, d=10, T=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = np.zeros((d, T))
    W[:3] = rng.normal(size=(3, T))
    return X + 1.0, X @ W + 0.5 * rng.normal(size=(n, T)) + 2.0


def _per_task(seed=1, d=6, sizes=(20, 15, 25)):
    rng = np.random.default_rng(seed)
    task = np.repeat(np.arange(len(sizes)), sizes)
    X = rng.normal(size=(task.size, d))
    y = np.einsum("nd,nd->n", X, rng.normal(size=(len(sizes), d))[task]) + 0.3 * rng.normal(size=task.size)
    return X, y, task


@pytest.mark.parametrize("cls", [LassoRegressor, L21Regressor])
def test_rho_max_zeroes_the_solution_and_below_does_not(cls):
    X, Y = _shared()
    top = rho_max(cls(), X, Y)
    assert not cls(rho1=top * 1.0001, stop="gap", tol=1e-10).fit(X, Y).coef_.any()
    assert cls(rho1=top * 0.9, stop="gap", tol=1e-10).fit(X, Y).coef_.any()


@pytest.mark.parametrize("cls", [LassoRegressor, L21Regressor])
@pytest.mark.parametrize("form", ["shared", "wide", "per_task"])
def test_path_equals_independent_fits(cls, form):
    """wide: n < d, warm-started working sets along the path."""
    if form in ("shared", "wide"):
        X, y = _shared() if form == "shared" else _shared(seed=2, n=25, d=80)
        task = None
    else:
        X, y, task = _per_task()
    eps = 0.1 if form == "wide" else 1e-2  # wide: supports well below n, where the solution is well posed
    grid, coefs, intercepts, gaps = regularisation_path(cls(tol=1e-10), X, y, task, n_rho1s=6, eps=eps)
    assert np.all(np.diff(grid) < 0) and np.all(gaps <= 1e-10)
    for rho, coef, c in zip(grid, coefs, intercepts):
        cold = cls(rho1=rho, stop="gap", tol=1e-10).fit(X, y, task=task)
        np.testing.assert_allclose(coef, cold.coef_, atol=1e-6)
        np.testing.assert_allclose(c, cold.intercept_, atol=1e-6)


@pytest.mark.parametrize("cv_cls, cls", [(LassoRegressorCV, LassoRegressor), (L21RegressorCV, L21Regressor)])
@pytest.mark.parametrize("form", ["shared", "per_task"])
def test_cv_equals_independent_fits_at_each_strength(cv_cls, cls, form):
    if form == "shared":
        X, y = _shared()
        task = None
        splits = list(KFold(3, shuffle=True, random_state=0).split(X))
    else:
        X, y, task = _per_task()
        splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, task))
    m = cv_cls(n_rho1s=5, eps=1e-2, cv=3, tol=1e-10).fit(X, y, task=task)
    for i, rho in enumerate(m.rho1s_):
        for k, (tr, va) in enumerate(splits):
            kw_tr = {} if task is None else dict(task=task[tr])
            kw_va = {} if task is None else dict(task=task[va])
            cold = cls(rho1=rho, stop="gap", tol=1e-10).fit(X[tr], y[tr], **kw_tr)
            mse = np.mean((y[va] - cold.predict(X[va], **kw_va)) ** 2)
            assert m.mse_path_[i, k] == pytest.approx(mse, rel=1e-6)
    assert m.rho1_ == m.rho1s_[np.argmin(m.mse_path_.mean(axis=1))]
    final = cls(rho1=m.rho1_, stop="gap", tol=1e-10).fit(X, y, task=task)
    np.testing.assert_allclose(m.coef_, final.coef_, atol=1e-6)
    np.testing.assert_allclose(m.predict(X, task=task), final.predict(X, task=task), atol=1e-6)


def test_cv_with_task_column_and_bad_input():
    X, y, task = _per_task()
    Xt = np.column_stack([task, X])
    a = L21RegressorCV(task_column=0, n_rho1s=4, cv=2, tol=1e-9).fit(Xt, y)
    b = L21RegressorCV(n_rho1s=4, cv=2, tol=1e-9).fit(X, y, task=task)
    assert a.rho1_ == b.rho1_
    np.testing.assert_allclose(a.predict(Xt), b.predict(X, task=task), atol=1e-8)
    with pytest.raises(ValueError, match="cv"):
        L21RegressorCV(cv=1).fit(X, y, task=task)
    with pytest.raises(ValueError, match="rho1s"):
        LassoRegressorCV(rho1s=[1.0, -2.0]).fit(X, y, task=task)
    with pytest.raises(TypeError, match="LassoRegressor or L21Regressor"):
        regularisation_path(object(), X, y, task)
