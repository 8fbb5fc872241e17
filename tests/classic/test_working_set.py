"""Working-set coordinate descent (``classic/_working_set.py``) on wide shared designs: the sets grow past the
first one, the answer equals scikit-learn's full coordinate descent, the reported gap is the library's
certificate, and each task of the Lasso stops on its own relative gap."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, MultiTaskLasso, enet_path

from multitask.classic import L21Regressor, LassoRegressor
from multitask.classic._losses import least_squares
from multitask.classic._sklearn_cd import enet_path_engine
from multitask.classic._working_set import P0, ws_applies, ws_solve

CLASSES = {"lasso": LassoRegressor, "l21": L21Regressor}


def _wide(seed=7, n=60, d=300, T=3, active=30):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = np.zeros((d, T))
    W[rng.choice(d, active, replace=False)] = rng.normal(size=(active, T))
    return X, X @ W + 0.1 * rng.normal(size=(n, T))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_working_sets_grow_past_the_first_set_and_match_the_full_solver(name):
    """30 active features of 300 (first working set: 16): the sets must grow; the answer equals the
    coordinate descent of scikit-learn on the whole design."""
    X, Y = _wide()
    rho1 = 0.05 * float(np.abs(X.T @ Y).max())
    m = CLASSES[name](rho1=rho1, fit_intercept=False, stop="gap", tol=1e-10).fit(X, Y)
    assert m.gap_ <= 1e-10
    assert np.count_nonzero(np.any(m.coef_ != 0, axis=0)) > 16
    sk = (MultiTaskLasso if name == "l21" else Lasso)(alpha=rho1 / 60, fit_intercept=False, tol=1e-14,
                                                       max_iter=100_000).fit(X, Y)
    np.testing.assert_allclose(m.coef_, sk.coef_, atol=1e-6)


@pytest.mark.parametrize("penalty", ["l1", "l21"])
def test_reported_gap_is_the_estimators_certificate(penalty):
    """ws_solve's own gap (per group, summed) equals the estimator's least-squares duality gap at its W."""
    X, Y = _wide(seed=3)
    rho1 = 0.1 * float(np.abs(X.T @ Y).max())
    W, n_iter, path, gap = ws_solve(np.asfortranarray(X), Y, X.T @ Y, penalty, rho1, np.zeros((300, 3)),
                                    tol=1e-8, max_iter=10_000)
    assert gap <= 1e-8 and n_iter >= 1 and len(path) >= 2
    assert all(b <= a * (1 + 1e-12) for a, b in zip(path, path[1:]))  # the objective never rises
    est = (LassoRegressor if penalty == "l1" else L21Regressor)(rho1=rho1, fit_intercept=False)
    loss = least_squares([X] * 3, list(Y.T))
    assert est._problem(loss).gap((W,), np.zeros(3)) == pytest.approx(gap, rel=1e-6, abs=1e-15)


def test_applies_only_to_wide_designs_without_ridge():
    assert ws_applies(60, 300, 0.0) and ws_applies(300, 300, 0.0)
    assert not ws_applies(301, 300, 0.0) and not ws_applies(60, 300, 0.5)
    assert P0 >= 1


def test_engine_equals_enet_path_and_is_quiet():
    """The validation-free call gives scikit-learn's own answer, and its ConvergenceWarning is silenced."""
    X, Y = _wide(seed=5, n=40, d=50)
    Xf, y = np.asfortranarray(X), np.ascontiguousarray(Y[:, 0])
    kw = dict(l1_ratio=1.0, alphas=[0.05], tol=1e-10, max_iter=5000, precompute=False)
    ref = enet_path(Xf, y, check_input=False, return_n_iter=True, copy_X=False, **kw)
    got = enet_path_engine(Xf, y, **kw)
    np.testing.assert_array_equal(ref[1], got[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        enet_path_engine(Xf, y, **{**kw, "max_iter": 1, "tol": 1e-16})
