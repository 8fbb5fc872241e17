"""The proximal-gradient estimator base: a composite problem per fit, solved by FISTA.

Each such estimator minimises ``smooth(Σ parts, c) + ridge‖Σ parts‖²_F + Σₖ strengthₖ · normₖ(partₖ)`` by
FISTA (:func:`~multitask.classic._fista.fista`), where W = Σ parts is one matrix for most estimators and
the sum of two components (W = P + Q, L + S) for the two-part ones. An estimator file writes one private
class deriving from :class:`ProxGradientEstimator` that declares its hyper-parameters (dataclass fields)
and its penalty: one :class:`PenaltyTerm` per component in ``_terms`` (and ``_ridge``, the name of a
squared-Frobenius strength, if any; :meth:`ProxGradientEstimator._smooth` to add smooth penalties), or,
for a penalty that is not a sum of per-component terms, :meth:`ProxGradientEstimator._problem` itself.
The public estimators are ``class XRegressor(MultiTaskRegressorMixin, _X)`` and
``class XClassifier(MultiTaskClassifierMixin, _X)``, each with its own docstring; a classifier redeclares
only the fields whose default differs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from multitask.classic._admm import admm_applies, admm_solve
from multitask.classic._base import MultiTaskLinearModel, hyperparameters
from multitask.classic._cd import cd_applies, cd_solve
from multitask.classic._fista import fista
from multitask.classic._losses import GAP_FLOOR, LeastSquaresLoss, PenalisedLoss, SmoothLoss, relative_gap
from multitask.classic._prox import L1, Regulariser

__all__ = ["Composite", "PenaltyTerm", "ProxGradientEstimator", "least_squares_gap", "kkt_residual"]

Parts = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Composite:
    """One fit's composite problem: ``smooth(Σ parts, c) + rho_l2‖Σ parts‖²_F + penalty(parts)``.

    Attributes:
        smooth: the smooth loss, called as a :class:`~multitask.classic._losses.SmoothLoss` (the data
            loss, or a :class:`~multitask.classic._losses.PenalisedLoss` adding smooth penalties to it).
        prox: ``prox(parts, step)``, the proximal operator of ``step · penalty``; ``step`` is a float, or
            a tuple with one step per part, each a float or, for a part whose ``rows`` flag is set, an
            array of shape (d, 1), one step per feature row (the prox in a diagonal feature metric).
        penalty: ``penalty(parts)``, the non-smooth penalty's value.
        rho_l2: squared-Frobenius strength on W = Σ parts (no ½ factor; default 0).
        on_solution: optional callback given the solution W (d x T), e.g. to store a derived attribute.
        gap: optional ``gap(parts, c)``, an upper bound of the relative suboptimality (a relative duality
            gap, :func:`least_squares_gap`); it is reported as ``gap_`` and used by ``stop="gap"``.
        rows: per part, whether its penalty is a sum over feature rows whose ``prox`` takes per-row
            steps; those parts get a per-feature diagonal preconditioner under ``stop="gap"``
            (:meth:`ProxGradientEstimator._metric`), the others a scalar one. Default: none.
    """

    smooth: SmoothLoss | PenalisedLoss
    prox: Callable[[Parts, float], Parts]
    penalty: Callable[[Parts], float]
    rho_l2: float = 0.0
    on_solution: Callable[[np.ndarray], None] | None = None
    gap: Callable[[Parts, np.ndarray], float] | None = None
    rows: tuple[bool, ...] = ()


def per_part(step: float | tuple, n_parts: int) -> tuple:
    """A prox step as one step per part (a float is shared by all)."""
    return step if isinstance(step, tuple) else (step,) * n_parts


@dataclass(frozen=True)
class PenaltyTerm:
    """``strength · reg.value(part)`` on one component of W (or, for a ball, the constraint that the
    component lies in the ball of radius ``strength``).

    Attributes:
        strength: the name of the hyper-parameter (a field of the estimator, checked finite and >= 0).
        reg: the :class:`~multitask.classic._prox.Regulariser` (norm and prox, e.g. ``L1``, ``TRACE``).
        attr: the name under which the fitted component is stored (e.g. ``"P_"``, transposed like
            ``coef_``), or None (a single-matrix estimator: the component is ``coef_`` itself).
    """

    strength: str
    reg: Regulariser
    attr: str | None = None


def least_squares_gap(
    smooth: LeastSquaresLoss | PenalisedLoss,
    data: LeastSquaresLoss,
    terms: Sequence[PenaltyTerm],
    strengths: Sequence[float],
    rho_l2: float,
) -> Callable[[Parts, np.ndarray], float]:
    """Relative duality gap of ``min_parts f(W) + Σₖ sₖ Nₖ(partₖ)``, W = Σ parts, where the smooth part
    ``f = smooth + rho_l2‖W‖²_F`` is the least-squares loss ``data`` = ½‖XW − Y‖² plus PSD quadratic
    penalties of W (``smooth`` is ``data`` or a quadratic :class:`~multitask.classic._losses.PenalisedLoss`
    of it). No intercept: ``fit`` centres the data, which profiles the intercepts out exactly.

    With f written as ``½‖X̃W − Ỹ‖²`` (X̃ stacks X, √(2 rho_l2) I and the square roots of the quadratic
    penalties; Ỹ = [Y; 0; 0]) its Fenchel dual is
    ``D(θ) = −½‖θ‖² − ⟨θ, Ỹ⟩ − Σ_balls τ N*(X̃ᵀθ)`` subject to ``N*ₖ(X̃ᵀθ) ≤ sₖ`` for every norm term (N* the
    dual norm; every part sees the same X̃ᵀθ as W = Σ parts). The dual point is the scaled residual
    θ = α(X̃W − Ỹ), α ∈ [0, minₖ sₖ / N*ₖ(G)] maximising D in closed form, G = X̃ᵀ(X̃W − Ỹ) the gradient
    of f. For the Lasso (one ℓ1 term, no quadratic coupling) the problem separates over the tasks and each
    task gets its own scale αₜ (θ = [αₜ rₜ]ₜ is feasible column by column), a tighter bound. Returns
    ``(P(W) − D(θ)) / P(W)`` ≥ the relative suboptimality ``(P(W) − P*) / P(W)`` (the denominator floored
    at 1e-12 P(0), :func:`~multitask.classic._losses.relative_gap`; per task for the Lasso); the returned
    function keeps P(W) of its last call as its attribute ``primal``."""

    separable = smooth is data and len(terms) == 1 and terms[0].reg is L1  # the Lasso: one task at a time

    def gap(parts: Parts, c: np.ndarray) -> float:
        W = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
        f, (G, _) = smooth(W, None)
        if separable:  # per-task dual points θₜ = αₜ rₜ: feasible column by column, at least as good
            lin = np.sum(data.B * W, axis=0)
            quad = np.sum(W * G, axis=0) + lin  # wₜᵀXₜᵀXₜwₜ from the gradient, no extra pass
            a_t = np.maximum(0.5 * (data.yy - 2.0 * lin + quad), 0.0) + rho_l2 * np.sum(W * W, axis=0)
            b_t = lin - data.yy
            dual_t = np.max(np.abs(G + 2.0 * rho_l2 * W), axis=0) if W.shape[0] else np.zeros(W.shape[1])
            s = float(strengths[0])
            cap = np.where(dual_t > 0, s / np.where(dual_t > 0, dual_t, 1.0), np.inf)
            alpha_t = np.clip(-b_t / np.where(a_t > 0, 2.0 * a_t, 1.0), 0.0, cap) * (a_t > 0)
            primal_t = a_t + s * np.abs(W).sum(axis=0)
            dual_t = -a_t * alpha_t**2 - b_t * alpha_t
            gap.primal = float(primal_t.sum())  # type: ignore[attr-defined]
            return relative_gap(primal_t - dual_t, primal_t, 0.5 * data.yy)
        a = f + rho_l2 * float(np.sum(W * W))  # ½‖X̃W − Ỹ‖²
        G = G + 2.0 * rho_l2 * W
        ry = float(np.sum(data.B * W) - data.yy.sum())  # ⟨X̃W − Ỹ, Ỹ⟩ = ⟨XW − Y, Y⟩
        primal, b, alpha_max = a, ry, np.inf
        for term, s, part in zip(terms, strengths, parts):
            dual = term.reg.dual(G)
            if term.reg.value is None:  # a ball of radius s: its support function enters D
                b += s * dual
            else:
                primal += s * term.reg.value(part)
                alpha_max = min(alpha_max, s / dual if dual > 0 else np.inf)
        alpha = float(np.clip(-b / (2.0 * a), 0.0, alpha_max)) if a > 0 else 0.0
        dual_value = -a * alpha**2 - b * alpha
        gap.primal = primal  # type: ignore[attr-defined]  # P(W) of the last call, for callers that need it
        return relative_gap(primal - dual_value, primal, 0.5 * float(data.yy.sum()))

    return gap


def kkt_residual(
    smooth: Callable[[tuple[np.ndarray, ...]], tuple[float, tuple[np.ndarray, ...]]],
    prox: Callable[[tuple[np.ndarray, ...], float], tuple[np.ndarray, ...]],
    nonsmooth: Callable[[tuple[np.ndarray, ...]], float],
) -> Callable[[tuple[np.ndarray, ...]], float]:
    """Relative KKT residual of ``min_x f(x) + g(x)`` where no dual is computed: with the prox-gradient
    step ``x⁺ = prox_{g/L}(x − ∇f(x)/L)`` (L by backtracking, as FISTA's, kept between calls) and the
    gradient mapping ``G = L(x − x⁺)``, returns ``‖G‖ · ‖x⁺‖ / max(|F(x⁺)|, 1e-12 |F(0)|)``. G = 0 exactly
    at a minimiser and ``F(x⁺) − F* ≤ ‖G‖ · ‖x⁺ − x*‖`` (Beck & Teboulle 2009; Nesterov 2013), so this is
    the relative suboptimality bound with ‖x*‖ replaced by ‖x⁺‖: a residual on the objective's scale, not a
    proven bound (that is what the duality gap of :func:`least_squares_gap` is)."""
    state = {"L": 1.0}

    def residual(x: tuple[np.ndarray, ...]) -> float:
        f, g = smooth(x)
        L = max(state["L"] / 2.0, 1e-12)
        for _ in range(200):
            z = prox(tuple(xi - gi / L for xi, gi in zip(x, g)), 1.0 / L)
            d = tuple(zi - xi for zi, xi in zip(z, x))
            r2 = float(sum(np.vdot(di, di) for di in d))
            slope = float(sum(np.vdot(di, gi) for di, gi in zip(d, g)))
            if smooth(z)[0] <= f + slope + 0.5 * L * r2 + 1e-12 * abs(f):
                break
            L *= 2.0
        state["L"] = L
        F = smooth(z)[0] + nonsmooth(z)
        if "F0" not in state:  # F(0), whose 1e-12 floors the denominator as in relative_gap
            zero = tuple(np.zeros_like(xi) for xi in x)
            state["F0"] = abs(smooth(zero)[0] + nonsmooth(zero))
        size = np.sqrt(float(sum(np.vdot(zi, zi) for zi in z)))
        return float(L * np.sqrt(r2) * size / max(abs(F), GAP_FLOOR * state["F0"], np.finfo(float).tiny))

    return residual


def _is_quadratic(smooth: SmoothLoss | PenalisedLoss) -> bool:
    """Least squares, alone or plus PSD quadratic penalties (declared ``quadratic``)."""
    if isinstance(smooth, PenalisedLoss):
        return smooth.quadratic and isinstance(smooth.loss, LeastSquaresLoss)
    return isinstance(smooth, LeastSquaresLoss)


@hyperparameters
class ProxGradientEstimator(MultiTaskLinearModel):
    """Fits W = Σ parts by FISTA on the :class:`Composite` problem returned by :meth:`_problem`.

    Class attributes set by the estimator:
        _terms: the :class:`PenaltyTerm` of each component of W (one or two).
        _ridge: the name of the squared-Frobenius strength field (no ½ factor), or None.
        _cd_penalty: ``"l1"`` or ``"l21"`` for the one-term Lasso / ℓ2,1 estimators: under ``stop="gap"``
            their least-squares fits run the certified coordinate-descent engine of
            :mod:`multitask.classic._cd` instead of FISTA; None for the others.
        _admm: under ``stop="gap"``, least-squares fits with the Gram matrices precomputed run the ADMM
            engine of :mod:`multitask.classic._admm` (not on a shared design for the ``_cd_penalty``
            estimators, which run scikit-learn's coordinate descent there). Set for the estimators where
            it beats the preconditioned FISTA on School (trace norm, RMTL, rMTFL, ℓ2,1, MTFL, MTRL: a few
            hundred iterations to a relative gap of 1e-6 where FISTA needs thousands); the entry-wise
            sparse ones (Lasso, Dirty, SparseTrace) converge faster with FISTA or coordinate descent.
    """

    _terms = ()
    _ridge = None
    _cd_penalty = None
    _admm = False

    def _validate_params_extra(self) -> None:
        ridge = [self._ridge] if self._ridge else []
        names = [t.strength for t in self._terms] + [*self._nonneg_params, *ridge]
        self._check_nonneg(**{name: getattr(self, name) for name in dict.fromkeys(names)})

    def _smooth(self, loss: SmoothLoss) -> SmoothLoss | PenalisedLoss:
        """The smooth part (the data loss, or a :class:`~multitask.classic._losses.PenalisedLoss`)."""
        return loss

    def _problem(self, loss: SmoothLoss) -> Composite:
        """The composite problem for this fit (``loss`` is the data loss built by ``fit``)."""
        terms = self._terms
        values = [float(getattr(self, t.strength)) for t in terms]

        def prox(parts: Parts, step: float | tuple) -> Parts:
            steps = per_part(step, len(terms))
            radius_or_step = [v if t.reg.value is None else v * st for t, v, st in zip(terms, values, steps)]
            return tuple(t.reg.prox(p, r) for t, r, p in zip(terms, radius_or_step, parts))

        def penalty(parts: Parts) -> float:
            return sum(v * t.reg.value(p) for t, v, p in zip(terms, values, parts) if t.reg.value is not None)

        ridge = float(getattr(self, self._ridge)) if self._ridge else 0.0
        smooth = self._smooth(loss)
        data = smooth.loss if isinstance(smooth, PenalisedLoss) and smooth.quadratic else smooth
        gap = None
        # least squares plus PSD quadratics: the dual is exact. A norm term of strength 0 leaves its part
        # free, so every dual-feasible point has X̃ᵀθ = 0 there and the scaled residual certifies nothing
        # (gap 1 until W is exact): such fits stop on the KKT residual instead, as those without a dual.
        unpenalised = any(v == 0.0 for t, v in zip(terms, values) if t.reg.value is not None)
        if isinstance(data, LeastSquaresLoss) and not unpenalised:
            gap = least_squares_gap(smooth, data, terms, values, ridge)
        rows = tuple(t.reg.rows for t in terms)
        return Composite(smooth, prox, penalty, rho_l2=ridge, gap=gap, rows=rows)

    def _fit_coef(
        self, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss
    ) -> tuple[np.ndarray, np.ndarray]:
        problem = self._problem(loss)
        parts, c = self._solve(problem, *self._initial_parts(Xs, ys, loss))
        for term, part in zip(self._terms, parts):
            if term.attr is not None:
                setattr(self, term.attr, part.T.copy())
        W = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
        if problem.on_solution is not None:
            problem.on_solution(W)
        return W, c

    def _initial_parts(
        self, Xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], loss: SmoothLoss
    ) -> tuple[Parts, np.ndarray]:
        """Starting components (warm start reuses the previous ones; otherwise the first component gets
        the initial W of :meth:`_initial_coef`, the rest zeros) and intercepts."""
        n_parts = max(1, len(self._terms))
        W0, c0 = self._initial_coef(Xs, ys, loss)
        prev = getattr(self, "_parts_", None)
        if (
            self.warm_start
            and getattr(self, "_prev_fit_ok", False)
            and prev is not None
            and len(prev) == n_parts
            and all(p.shape == W0.shape for p in prev)
        ):
            return tuple(p.copy() for p in prev), c0
        return (W0,) + tuple(np.zeros_like(W0) for _ in range(n_parts - 1)), c0

    @staticmethod
    def _metric(problem: Composite, k: int) -> tuple[np.ndarray, ...] | None:
        """The diagonal preconditioner of FISTA under ``stop="gap"`` (one array per part, then the
        intercepts'), or None (the Euclidean metric) when no part's prox takes per-row steps.

        From the Hessian's diagonal D (d x T) of the smooth part (:meth:`SmoothLoss.curvature`, plus
        2·rho_l2): a part whose penalty is a sum over feature rows gets ``mⱼ = maxₜ Dⱼₜ`` per row (one
        weight per feature, the same for every task, so the metric prox is the per-row prox), any other
        part the scalar ``maxⱼ mⱼ``, the intercepts their own curvature. With mⱼ ≥ Dⱼₜ the scaled Lipschitz
        constant is at most the largest eigenvalue of the feature-normalised Gram matrices. This removes
        the ill-conditioning that features of very different scales cause: on School (features with
        standard deviations 0.07 to 15) the Lipschitz constant of FISTA's Euclidean step is 8.6e4 and
        the normalised one 2.2."""
        if not any(problem.rows):
            return None
        dW, dc = problem.smooth.curvature()
        dW = np.asarray(dW, dtype=float) + 2.0 * problem.rho_l2
        m = dW.max(axis=1, initial=0.0)
        top = float(m.max(initial=0.0))
        if not np.isfinite(top) or top <= 0.0:
            return None
        m = np.maximum(m, 1e-12 * top)[:, None]
        dc = np.asarray(dc, dtype=float)
        mc = np.maximum(dc, 1e-12 * max(float(dc.max(initial=0.0)), 1.0))
        return (*(m if rows else top for rows in problem.rows[:k]), mc)

    def _solve(self, problem: Composite, parts0: Parts, c0: np.ndarray) -> tuple[Parts, np.ndarray]:
        """FISTA on ``problem`` from (parts0, c0); sets ``objective_path_``, ``n_iter_`` and the private
        ``_parts_`` (for warm starts). The intercepts are not penalised."""
        k = len(parts0)
        loss, rho_l2 = problem.smooth, problem.rho_l2
        rho1 = float(getattr(self, self._terms[0].strength)) if self._cd_penalty else 0.0
        if (
            self._admm and self.stop == "gap" and problem.gap is not None
            and isinstance(loss, LeastSquaresLoss) and admm_applies(loss)
            and not (self._cd_penalty and loss.shared and rho1 > 0)
        ):
            parts, n_iter, path, gap = admm_solve(
                loss, problem.prox, tuple(parts0), rho_l2, tol=float(self.tol), max_iter=int(self.max_iter),
                gap=problem.gap,
            )
            self.gap_, self.objective_path_, self.n_iter_ = float(gap), np.asarray(path, dtype=float), n_iter
            self._parts_ = tuple(p.copy() for p in parts)
            return parts, c0
        if self._cd_penalty and self.stop == "gap" and problem.gap is not None and cd_applies(loss, rho1):
            W, n_iter, path, gap = cd_solve(
                loss, self._cd_penalty, rho1, rho_l2, parts0[0],
                tol=float(self.tol), max_iter=int(self.max_iter), gap=problem.gap,
            )
            self.gap_, self.objective_path_, self.n_iter_ = float(gap), np.asarray(path, dtype=float), n_iter
            self._parts_ = (W.copy(),)
            return (W,), c0

        def smooth(x: Parts) -> tuple[float, Parts]:
            W = x[0] if k == 1 else sum(x[1:k], x[0])
            f, (gW, gc) = loss(W, x[k])
            if rho_l2:
                f += rho_l2 * float(np.sum(W * W))
                gW = gW + 2.0 * rho_l2 * W
            return f, (*([gW] * k), gc)

        def prox(v: Parts, step: float | tuple) -> Parts:
            return (*problem.prox(tuple(v[:k]), step[:k] if isinstance(step, tuple) else step), v[k])

        def nonsmooth(x: Parts) -> float:
            return float(problem.penalty(tuple(x[:k])))

        if problem.gap is not None:
            def certificate(x: Parts) -> float:
                return problem.gap(tuple(x[:k]), x[k])
        else:  # no dual here: the relative KKT residual (gradient mapping) of the same problem
            certificate = kkt_residual(smooth, prox, nonsmooth)
        certified = self.stop == "gap"  # MALSAR's rules run MALSAR's plain FISTA
        x, path, n_iter = fista(
            smooth, prox, nonsmooth, (*parts0, c0),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            stop=self.stop,
            verbose=bool(self.verbose),
            certificate=certificate,
            metric=self._metric(problem, k) if certified else None,
            restart=certified,
            quadratic=certified and _is_quadratic(loss),
        )
        self.gap_ = float(certificate(x))
        self.objective_path_ = np.asarray(path, dtype=float)
        self.n_iter_ = int(n_iter)
        parts = tuple(x[:k])
        self._parts_ = tuple(p.copy() for p in parts)
        return parts, x[k]
