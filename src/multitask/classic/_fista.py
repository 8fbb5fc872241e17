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


def fista(
    smooth: Callable[[Variable], tuple[float, Variable]],
    prox: Callable[[Variable, float], Variable],
    nonsmooth: Callable[[Variable], float],
    x0: Variable,
    *,
    max_iter: int = 1000,
    tol: float = 1e-4,
    stop: str = "rel_change",
    L0: float = 1.0,
    verbose: bool = False,
    certificate: Callable[[Variable], float] | None = None,
) -> tuple[Variable, list[float], int]:
    """Minimise ``smooth(x) + nonsmooth(x)`` by FISTA with MALSAR's backtracking.

    Args:
        smooth: x -> (f(x), ∇f(x)).
        prox: (v, step) -> argmin_x ½‖x − v‖² + step·g(x).
        nonsmooth: x -> g(x).
        x0: starting point (array or tuple of arrays); not modified.
        max_iter: maximal number of iterations (MALSAR's ``opts.maxIter``, default 1000).
        tol: tolerance of the stopping rule (MALSAR's ``opts.tol``, default 1e-4).
        stop: ``"rel_change"`` (default), ``"obj_change"``, ``"iterate_change"`` or ``"gap"``.
        L0: initial Lipschitz estimate (MALSAR's ``gamma = 1``).
        verbose: print the objective every iteration.
        certificate: x -> an upper bound of the relative suboptimality at x (needed by ``stop="gap"``).

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
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is returned
        alpha = (t_old - 1.0) / t
        s = _combine(1.0 + alpha, x, -alpha, x_old)
        fs, gs = smooth(s)
        if n_iter == 1:
            _check_structure(s, gs, "the gradient returned by smooth")
        if not np.isfinite(fs):
            raise ValueError(f"fista: the smooth part is not finite ({fs}) at iteration {n_iter}")
        tiny_step = False
        while True:
            z = prox(_combine(1.0, s, -1.0 / L, gs), 1.0 / L)
            fz, _ = smooth(z)
            delta = _combine(1.0, z, -1.0, s)
            r_sum = _inner(delta, delta)
            if r_sum <= 1e-20:
                tiny_step = True
                break
            if fz <= fs + _inner(delta, gs) + 0.5 * L * r_sum:
                break
            L *= 2.0
            if not np.isfinite(L):
                raise ValueError("fista: backtracking diverged (Lipschitz estimate overflowed)")
        x_old, x = x, z
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
