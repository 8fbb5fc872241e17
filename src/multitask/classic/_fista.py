"""Accelerated proximal gradient (FISTA) with backtracking, as in MALSAR.

Beck & Teboulle. A fast iterative shrinkage-thresholding algorithm for linear inverse problems. SIAM J.
Imaging Sciences, 2009; Nesterov's accelerated gradient as used throughout MALSAR (Zhou, Chen, Ye. MALSAR:
Multi-tAsk Learning via StructurAl Regularization, ASU 2011) for ``min_x f(x) + g(x)``:

    s_k     = x_k + α_k (x_k − x_{k−1}),            α_k = (t_{k−1} − 1) / t_k
    x_{k+1} = prox_{g/L}(s_k − ∇f(s_k) / L),        L doubled until
              f(x_{k+1}) ≤ f(s_k) + ⟨∇f(s_k), x_{k+1} − s_k⟩ + L/2 ‖x_{k+1} − s_k‖²
    t_{k+1} = (1 + √(1 + 4 t_k²)) / 2,              t_0 = 0, t_1 = 1, L starts at ``L0`` (MALSAR: 1)

MALSAR keeps L across iterations (it never decreases) and stops early when the prox step moves the
point by less than 1e-10 (‖x_{k+1} − s_k‖² ≤ 1e-20) — an absolute test that can stop far from the
optimum when L is large, so ``stop="gap"`` skips it. Stopping rules (MALSAR's ``opts.tFlag``):

* ``"rel_change"`` (tFlag 1, MALSAR's default): ``|F_k − F_{k−1}| ≤ tol · |F_{k−1}|``;
* ``"obj_change"`` (tFlag 0): ``|F_k − F_{k−1}| ≤ tol``;
* ``"iterate_change"``: ``‖x_k − x_{k−1}‖ ≤ tol · max(1, ‖x_{k−1}‖)``;
* ``"gap"``: ``certificate(x_k) ≤ tol``, evaluated every ``GAP_CHECK_EVERY`` iterations, where the caller's
  ``certificate`` is an upper bound of the relative suboptimality (F(x_k) − F*) / F(x_k), e.g. a relative
  duality gap — the only rule of the four that certifies the answer;

where F = f + g is the full objective, recorded for every iteration in the returned path.

The variable ``x`` is a numpy array or a tuple of arrays (e.g. ``(P, Q, c)`` for W = P + Q models):
``smooth(x)`` returns ``(f, grad)`` with ``grad`` of the same structure, ``prox(v, step)`` returns the
prox of ``step · g`` at ``v`` (same structure) and ``nonsmooth(x)`` returns g(x).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Variable = np.ndarray | tuple[np.ndarray, ...]

STOP_RULES = ("rel_change", "obj_change", "iterate_change", "gap")
GAP_CHECK_EVERY = 10  # iterations between two evaluations of the certificate under stop="gap"

__all__ = ["fista", "stop_rule_met", "STOP_RULES", "Variable"]


def _is_tuple(x: Variable) -> bool:
    return isinstance(x, tuple)


def _combine(a: float, x: Variable, b: float, y: Variable) -> Variable:
    """a·x + b·y on arrays or tuples of arrays."""
    if _is_tuple(x):
        return tuple(a * xi + b * yi for xi, yi in zip(x, y))
    return a * x + b * y


def _inner(x: Variable, y: Variable) -> float:
    if _is_tuple(x):
        return float(sum(np.vdot(xi, yi) for xi, yi in zip(x, y)))
    return float(np.vdot(x, y))


def _as_float(x: Variable) -> Variable:
    if _is_tuple(x):
        return tuple(np.array(xi, dtype=float) for xi in x)
    return np.array(x, dtype=float)


def _check_structure(x: Variable, y: Variable, what: str) -> None:
    if _is_tuple(x) != _is_tuple(y) or (_is_tuple(x) and len(x) != len(y)):
        raise TypeError(f"fista: {what} must have the same structure as x0")
    pairs = zip(x, y) if _is_tuple(x) else [(x, y)]
    for xi, yi in pairs:
        if np.shape(xi) != np.shape(yi):
            raise ValueError(f"fista: {what} has shape {np.shape(yi)}, expected {np.shape(xi)}")


def stop_rule_met(stop: str, tol: float, path: list[float], step_norm: float, old_norm: float) -> bool:
    """Whether an iterative solver stops after its latest iterate under rule ``stop`` (module docstring):
    ``path`` holds the objective after each iteration so far (a rule needs two values),
    ``step_norm = ‖x_k − x_{k−1}‖`` and ``old_norm = ‖x_{k−1}‖``."""
    if len(path) < 2:
        return False
    if stop == "rel_change":
        return abs(path[-1] - path[-2]) <= tol * abs(path[-2])
    if stop == "obj_change":
        return abs(path[-1] - path[-2]) <= tol
    return step_norm <= tol * max(1.0, old_norm)


def _sufficient(
    fz: float, fs: float, gz: Variable, gs: Variable, delta: Variable, l_r: float, quadratic: bool,
    *, safe: bool,
) -> bool:
    """The backtracking test ``f(z) ≤ f(s) + ⟨∇f(s), δ⟩ + L/2 ‖δ‖²`` (δ = z − s, ``l_r = L‖δ‖²``).

    With ``safe`` (the certified solver) it is computed without cancellation where it can be: for a
    quadratic f, ``f(z) − f(s) − ⟨∇f(s), δ⟩ = ½⟨δ, ∇f(z) − ∇f(s)⟩`` exactly, and for any f, once the values
    agree to 1e-10 relatively (close to the solution, where rounding decides the value test), the
    gradient test ``⟨δ, ∇f(z) − ∇f(s)⟩ ≤ L‖δ‖²`` replaces it (Becker, Candès, Grant. Templates for convex
    cone problems with applications to sparse signal recovery (TFOCS). Math. Prog. Comp., 2011, §5.3).
    Without it: MALSAR's value test."""
    if safe and (quadratic or abs(fz - fs) <= 1e-10 * max(abs(fs), abs(fz))):
        return _inner(delta, _combine(1.0, gz, -1.0, gs)) <= l_r
    return fz <= fs + _inner(delta, gs) + 0.5 * l_r


def _metric_step(metric: Variable | None, L: float) -> float | Variable:
    """The prox step of one iteration: 1/L, or 1/(L·m) entry-wise for a metric m (same structure as x)."""
    if metric is None:
        return 1.0 / L
    if _is_tuple(metric):
        return tuple(1.0 / (L * m) for m in metric)
    return 1.0 / (L * metric)


def _scaled(metric: Variable | None, x: Variable) -> Variable:
    """m ⊙ x (x itself without a metric)."""
    if metric is None:
        return x
    if _is_tuple(x):
        return tuple(m * xi for m, xi in zip(metric, x))
    return metric * x


def _divided(metric: Variable | None, x: Variable) -> Variable:
    """x / m (x itself without a metric)."""
    if metric is None:
        return x
    if _is_tuple(x):
        return tuple(xi / m for m, xi in zip(metric, x))
    return x / metric


def fista(
    smooth: Callable[[Variable], tuple[float, Variable]],
    prox: Callable[[Variable, float | Variable], Variable],
    nonsmooth: Callable[[Variable], float],
    x0: Variable,
    *,
    max_iter: int = 1000,
    tol: float = 1e-4,
    stop: str = "rel_change",
    L0: float = 1.0,
    verbose: bool = False,
    certificate: Callable[[Variable], float] | None = None,
    metric: Variable | None = None,
    restart: bool = False,
    quadratic: bool = False,
) -> tuple[Variable, list[float], int]:
    """Minimise ``smooth(x) + nonsmooth(x)`` by FISTA with MALSAR's backtracking.

    Args:
        smooth: x -> (f(x), ∇f(x)).
        prox: (v, step) -> argmin_x ½‖x − v‖² + step·g(x); with a ``metric`` the step is ``1/(L m)``, an
            array (or tuple of arrays) shaped like ``metric``, and ``prox`` must return
            ``argmin_x ½‖x − v‖²_{1/step} + g(x)`` (for a norm summed over rows with a per-row metric:
            the per-row prox at the per-row step).
        nonsmooth: x -> g(x).
        x0: starting point (array or tuple of arrays); not modified.
        max_iter: maximal number of iterations (MALSAR's ``opts.maxIter``, default 1000).
        tol: tolerance of the stopping rule (MALSAR's ``opts.tol``, default 1e-4).
        stop: ``"rel_change"`` (default), ``"obj_change"``, ``"iterate_change"`` or ``"gap"``.
        L0: initial Lipschitz estimate (MALSAR's ``gamma = 1``).
        verbose: print the objective every iteration.
        certificate: x -> an upper bound of the relative suboptimality at x (needed by ``stop="gap"``).
        metric: None (MALSAR: the Euclidean metric), or positive arrays m broadcastable to x's (same
            structure): FISTA in the metric ``‖x‖²_m = Σ m x²`` (a diagonal preconditioner, variable-metric
            FISTA; Beck & Teboulle's analysis holds in any fixed metric), gradient step ``∇f / (L m)`` and
            backtracking on ``f(z) ≤ f(s) + ⟨∇f(s), z − s⟩ + L/2 ‖z − s‖²_m``.
        restart: adaptive restart (O'Donoghue & Candès. Adaptive restart for accelerated gradient schemes.
            Found. Comput. Math., 2015; the gradient scheme): the momentum is reset (t = 1) whenever the
            prox-gradient step points against the last move, ``⟨s − z, z − x⟩_m > 0``.
        quadratic: f is a quadratic function (least squares plus quadratic penalties): its value and
            gradient at the extrapolated point s = (1 + a) x − a x_old are affine combinations of those at
            x and x_old, ``∇f(s) = (1 + a)∇f(x) − a∇f(x_old)``,
            ``f(s) = (1 + a) f(x) − a f(x_old) + ½a(1 + a)⟨x − x_old, ∇f(x) − ∇f(x_old)⟩``, so an iteration
            evaluates ``smooth`` once (at the new point) instead of twice.

    Returns:
        (x, objective_path, n_iter): the last iterate, F(x_k) for k = 1..n_iter, and n_iter.
    """
    if stop not in STOP_RULES:
        raise ValueError(f"fista: stop must be one of {STOP_RULES}, got {stop!r}")
    if stop == "gap" and certificate is None:
        raise ValueError("fista: stop='gap' needs a certificate (a bound of the relative suboptimality)")
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        raise ValueError(f"fista: max_iter must be a positive integer, got {max_iter!r}")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"fista: tol must be a finite non-negative number, got {tol!r}")
    if not (np.isfinite(L0) and L0 > 0):
        raise ValueError(f"fista: L0 must be a finite positive number, got {L0!r}")

    x = _as_float(x0)
    x_old = x
    t, t_old = 1.0, 0.0
    L = float(L0)
    path: list[float] = []
    n_iter = 0
    fx = gx = f_old = g_old = None  # f and ∇f at x and x_old (quadratic f only)
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is returned
        alpha = (t_old - 1.0) / t
        s = _combine(1.0 + alpha, x, -alpha, x_old)
        if quadratic and fx is not None:
            if alpha == 0.0:
                fs, gs = fx, gx
            else:
                dg = _combine(1.0, gx, -1.0, g_old)
                gs = _combine(1.0 + alpha, gx, -alpha, g_old)
                fs = (1.0 + alpha) * fx - alpha * f_old + 0.5 * alpha * (1.0 + alpha) * _inner(
                    _combine(1.0, x, -1.0, x_old), dg
                )
        else:
            fs, gs = smooth(s)
        if n_iter == 1:
            _check_structure(s, gs, "the gradient returned by smooth")
        if not np.isfinite(fs):
            raise ValueError(f"fista: the smooth part is not finite ({fs}) at iteration {n_iter}")
        tiny_step = False
        while True:
            z = prox(_combine(1.0, s, -1.0 / L, _divided(metric, gs)), _metric_step(metric, L))
            fz, gz = smooth(z)
            delta = _combine(1.0, z, -1.0, s)
            r_sum = _inner(delta, _scaled(metric, delta))
            if r_sum <= 1e-20 and metric is None:
                tiny_step = True
                break
            if r_sum == 0.0 or _sufficient(fz, fs, gz, gs, delta, L * r_sum, quadratic, safe=restart):
                break
            L *= 2.0
            if not np.isfinite(L):
                raise ValueError("fista: backtracking diverged (Lipschitz estimate overflowed)")
        if restart and _inner(_scaled(metric, _combine(1.0, s, -1.0, z)), _combine(1.0, z, -1.0, x)) > 0:
            t = 1.0  # O'Donoghue & Candès: drop the momentum, the next step is a plain prox-gradient one
        x_old, x = x, z
        f_old, g_old, fx, gx = fx, gx, fz, gz
        F = float(fz + nonsmooth(z))
        path.append(F)
        if verbose:
            print(f"fista iter {n_iter:5d}  objective {F:.10g}  L {L:.3g}")
        if tiny_step and stop != "gap":  # MALSAR's early exit; under "gap" only the certificate stops
            break
        if stop == "gap":
            if n_iter % GAP_CHECK_EVERY == 0 and certificate(x) <= tol:  # type: ignore[misc]
                break
        else:
            dx = _combine(1.0, x, -1.0, x_old)
            if stop_rule_met(stop, tol, path, np.sqrt(_inner(dx, dx)), np.sqrt(_inner(x_old, x_old))):
                break
        t_old, t = t, 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
    return x, path, n_iter
