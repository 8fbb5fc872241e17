"""FISTA with backtracking: closed-form optima, tuple variables, stopping rules, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from multitask.classic._fista import fista
from multitask.classic._prox import prox_l1


def _quadratic(A: np.ndarray, b: np.ndarray):
    def smooth(x):
        r = A @ x - b
        return 0.5 * float(r @ r), A.T @ r

    return smooth


def _no_prox(v, step):
    return v


def test_scalar_lasso_closed_form():
    # min ½(x − 3)² + |x|  =>  x = 2 (soft threshold of 3 at 1)
    smooth = lambda x: (0.5 * float(((x - 3.0) ** 2).sum()), x - 3.0)  # noqa: E731
    x, path, n_iter = fista(smooth, lambda v, s: prox_l1(v, s), lambda x: float(np.abs(x).sum()), np.zeros(1))
    np.testing.assert_allclose(x, [2.0], atol=1e-6)
    assert len(path) == n_iter
    assert path[-1] == pytest.approx(0.5 + 2.0, abs=1e-10)


def test_smooth_least_squares_reaches_normal_equations():
    rng = np.random.default_rng(0)
    A, b = rng.normal(size=(20, 5)), rng.normal(size=20)
    x, _, _ = fista(_quadratic(A, b), _no_prox, lambda x: 0.0, np.zeros(5), tol=1e-14, max_iter=5000)
    np.testing.assert_allclose(x, np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-6)


def test_backtracking_handles_large_lipschitz_constant():
    # Hessian 400·I: the first step with L0 = 1 overshoots; backtracking must double L up to >= 400.
    A = 20.0 * np.eye(3)
    b = np.array([20.0, -40.0, 60.0])
    x, path, _ = fista(_quadratic(A, b), _no_prox, lambda x: 0.0, np.zeros(3), tol=1e-14)
    np.testing.assert_allclose(x, [1.0, -2.0, 3.0], atol=1e-8)
    assert path[-1] <= path[0]


def test_tuple_variables_separable_problem():
    # f(a, b) = ½(a − 2)² + ½(b + 3)², g = |a| + |b|  =>  a = 1, b = −2
    def smooth(x):
        a, b = x
        return 0.5 * float(((a - 2) ** 2).sum() + ((b + 3) ** 2).sum()), (a - 2.0, b + 3.0)

    prox = lambda v, s: (prox_l1(v[0], s), prox_l1(v[1], s))  # noqa: E731
    g = lambda x: float(np.abs(x[0]).sum() + np.abs(x[1]).sum())  # noqa: E731
    (a, b), _, _ = fista(smooth, prox, g, (np.zeros(2), np.zeros(2)), tol=1e-12)
    np.testing.assert_allclose(a, [1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(b, [-2.0, -2.0], atol=1e-6)


def test_coupled_tuple_problem_vs_scipy():
    # min ½‖A(a + b) − y‖² + 0.3‖a‖₁ + ½‖b‖²  (b's quadratic moved into the smooth part)
    rng = np.random.default_rng(1)
    A, y = rng.normal(size=(15, 4)), rng.normal(size=15)

    def smooth(x):
        a, b = x
        r = A @ (a + b) - y
        g = A.T @ r
        return 0.5 * float(r @ r) + 0.5 * float(b @ b), (g, g + b)

    prox = lambda v, s: (prox_l1(v[0], 0.3 * s), v[1])  # noqa: E731
    F = lambda a, b: 0.5 * np.sum((A @ (a + b) - y) ** 2) + 0.3 * np.abs(a).sum() + 0.5 * b @ b  # noqa: E731
    (a, b), path, _ = fista(
        smooth,
        prox,
        lambda x: 0.3 * float(np.abs(x[0]).sum()),
        (np.zeros(4), np.zeros(4)),
        tol=1e-13,
        max_iter=20000,
    )
    ref = minimize(
        lambda z: F(z[:4], z[4:]),
        np.zeros(8),
        method="Powell",
        options={"xtol": 1e-10, "ftol": 1e-14, "maxiter": 200000},
    )
    assert F(a, b) <= ref.fun + 1e-8
    assert path[-1] == pytest.approx(F(a, b), rel=1e-12)


@pytest.mark.parametrize("stop", ["rel_change", "obj_change", "iterate_change"])
def test_stopping_rules_terminate_early(stop):
    rng = np.random.default_rng(2)
    A, b = rng.normal(size=(30, 6)), rng.normal(size=30)
    _, path, n_iter = fista(
        _quadratic(A, b), _no_prox, lambda x: 0.0, np.zeros(6), tol=1e-3, stop=stop, max_iter=1000
    )
    assert 2 <= n_iter < 1000
    if stop == "obj_change":
        assert abs(path[-1] - path[-2]) <= 1e-3
    if stop == "rel_change":
        assert abs(path[-1] - path[-2]) <= 1e-3 * abs(path[-2])


def test_max_iter_is_respected():
    rng = np.random.default_rng(3)
    A, b = rng.normal(size=(30, 6)), rng.normal(size=30)
    _, path, n_iter = fista(_quadratic(A, b), _no_prox, lambda x: 0.0, np.zeros(6), tol=0.0, max_iter=7)
    assert n_iter == 7 and len(path) == 7


def test_x0_not_modified_and_verbose(capsys):
    x0 = np.ones(2)
    fista(_quadratic(np.eye(2), np.zeros(2)), _no_prox, lambda x: 0.0, x0, max_iter=3, verbose=True)
    np.testing.assert_array_equal(x0, np.ones(2))
    assert "objective" in capsys.readouterr().out


def test_bad_arguments():
    sm = _quadratic(np.eye(2), np.zeros(2))
    with pytest.raises(ValueError, match="stop"):
        fista(sm, _no_prox, lambda x: 0.0, np.zeros(2), stop="nope")
    with pytest.raises(ValueError, match="max_iter"):
        fista(sm, _no_prox, lambda x: 0.0, np.zeros(2), max_iter=0)
    with pytest.raises(ValueError, match="L0"):
        fista(sm, _no_prox, lambda x: 0.0, np.zeros(2), L0=-1.0)
    with pytest.raises(ValueError, match="shape"):
        fista(lambda x: (0.0, np.zeros(3)), _no_prox, lambda x: 0.0, np.zeros(2))
    with pytest.raises(ValueError, match="not finite"):
        fista(lambda x: (np.nan, x), _no_prox, lambda x: 0.0, np.zeros(2))


def test_preconditioned_restarted_quadratic_fista_reaches_the_same_minimiser():
    """The certified mode's options (diagonal metric, adaptive restart, gradients by linearity for a
    quadratic f) change the path, not the minimiser; the linearity shortcut evaluates f once per
    iteration and its path equals the plain evaluation's."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(30, 6)) * np.array([0.01, 0.1, 1.0, 10.0, 100.0, 1.0])  # scales over 4 decades
    b = rng.normal(size=30)
    calls = {"n": 0}

    def smooth(x):
        calls["n"] += 1
        r = A @ x - b
        return 0.5 * float(r @ r), A.T @ r

    prox = lambda v, s: prox_l1(v, s)  # noqa: E731  (s: a float or one step per entry)
    g = lambda x: float(np.abs(x).sum())  # noqa: E731
    plain, _, n_plain = fista(smooth, prox, g, np.zeros(6), tol=1e-15, stop="obj_change", max_iter=200000)
    metric = np.sum(A * A, axis=0)
    runs = {}
    for quadratic in (False, True):
        calls["n"] = 0
        runs[quadratic] = fista(smooth, prox, g, np.zeros(6), tol=1e-15, stop="obj_change", max_iter=200000,
                                metric=metric, restart=True, quadratic=quadratic)
        runs[quadratic] += (calls["n"],)
    (x_q, path_q, n_q, calls_q), (x_f, path_f, _, calls_f) = runs[True], runs[False]
    for x in (x_q, x_f):  # optimality: Aᵀ(Ax − b) = −sign(x) on the support, |·| ≤ 1 off it
        grad = A.T @ (A @ x - b)
        on = x != 0
        np.testing.assert_allclose(grad[on], -np.sign(x[on]), atol=1e-4)
        assert np.all(np.abs(grad[~on]) <= 1 + 1e-4)
    np.testing.assert_allclose(path_q[:20], path_f[:20], rtol=1e-10)
    assert n_q < n_plain / 10  # the metric removes the scale's ill-conditioning
    assert calls_q < 0.6 * calls_f
