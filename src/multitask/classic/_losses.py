"""Smooth data-fitting parts of the classical MTL objectives, with MALSAR's scaling.

Both losses act on ``(W, c)``: W is d x T (column t = task t's weights), c has length T (the per-task
intercepts). Calling a loss returns ``(value, (grad_W, grad_c))``.

* least squares (MALSAR ``Least_*``): ``Σₜ ½ ‖yₜ − Xₜwₜ − cₜ1‖²`` — a *sum* over samples, not a mean;
* logistic (MALSAR ``Logistic_*``): ``Σₜ (1/nₜ) Σᵢ log(1 + exp(−yₜᵢ (xₜᵢᵀwₜ + cₜ)))`` with yₜᵢ ∈ {−1, +1}
  — a *mean* over each task's samples, summed over tasks.

With ``fit_intercept=False`` the intercepts are held at 0 and ``grad_c`` is 0. When every ``Xs[t]`` is
the same array object (a shared design) the computations are batched over tasks; least squares switches
to precomputed Gram matrices XᵀX when there are more samples than features.

:class:`PenalisedLoss` adds smooth penalties of W (e.g. :func:`quadratic_penalty`, ``strength · tr(W G Wᵀ)``)
to a loss and keeps its call signature, so that the sum can be handed to the FISTA solver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import expit

__all__ = [
    "SmoothLoss",
    "LeastSquaresLoss",
    "LogisticLoss",
    "least_squares",
    "logistic",
    "PenalisedLoss",
    "quadratic_penalty",
]

_GRAM_MAX_ENTRIES = 20_000_000  # per-task Gram matrices are kept only when T·d² stays below this


class SmoothLoss:
    """Common validation and bookkeeping of the per-task data ``Xs[t]`` (nₜ x d), ``ys[t]`` (nₜ,)."""

    kind = "smooth"

    def __init__(self, Xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], *, fit_intercept: bool) -> None:
        if len(Xs) == 0 or len(Xs) != len(ys):
            raise ValueError(
                f"{type(self).__name__}: need one X and one y per task, got {len(Xs)} and {len(ys)}"
            )
        first = Xs[0]
        self.shared = all(X is first for X in Xs)
        self.Xs = (
            [np.asarray(X, dtype=float) for X in Xs]
            if not self.shared
            else [np.asarray(first, float)] * len(Xs)
        )
        self.ys = [np.asarray(y, dtype=float).ravel() for y in ys]
        d = self.Xs[0].shape[1] if self.Xs[0].ndim == 2 else -1
        for t, (X, y) in enumerate(zip(self.Xs, self.ys)):
            if X.ndim != 2 or X.shape[1] != d:
                raise ValueError(f"task {t}: X must be 2-D with {d} features, got shape {X.shape}")
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"task {t}: X has {X.shape[0]} rows but y has {y.shape[0]}")
        self.n_tasks = len(self.Xs)
        self.n_features = d
        self.fit_intercept = bool(fit_intercept)
        self.n_samples = np.array([X.shape[0] for X in self.Xs], dtype=float)
        self._prepare()

    def _prepare(self) -> None:
        """Precomputations of the loss (subclasses)."""

    def _check(self, W: np.ndarray, c: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        W = np.asarray(W, dtype=float)
        if W.shape != (self.n_features, self.n_tasks):
            raise ValueError(f"W must have shape {(self.n_features, self.n_tasks)}, got {W.shape}")
        if c is None or not self.fit_intercept:
            return W, np.zeros(self.n_tasks)
        c = np.asarray(c, dtype=float).ravel()
        if c.shape != (self.n_tasks,):
            raise ValueError(f"c must have shape {(self.n_tasks,)}, got {c.shape}")
        return W, c

    def _parts(self, W: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-task loss values (T,), grad_W (d x T) and grad_c (T,) at validated (W, c)."""
        raise NotImplementedError

    def __call__(
        self, W: np.ndarray, c: np.ndarray | None = None
    ) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
        W, c = self._check(W, c)
        vals, gW, gc = self._parts(W, c)
        if not self.fit_intercept:
            gc = np.zeros(self.n_tasks)
        return float(vals.sum()), (gW, gc)

    def value(self, W: np.ndarray, c: np.ndarray | None = None) -> float:
        """The loss value alone."""
        return self(W, c)[0]

    def curvature(self) -> tuple[np.ndarray, np.ndarray]:
        """Upper bounds of the Hessian's diagonal: (d x T for W, T for c), e.g. for a diagonal
        preconditioner (subclasses)."""
        raise NotImplementedError

    def _column_squares(self) -> np.ndarray:
        """``Σᵢ xₜᵢⱼ²`` of every feature j and task t (d x T)."""
        if self.shared:
            return np.repeat(np.einsum("ij,ij->j", self.Xs[0], self.Xs[0])[:, None], self.n_tasks, axis=1)
        return np.stack([np.einsum("ij,ij->j", X, X) for X in self.Xs], axis=1)

    def task_values(self, W: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
        """The loss of each task (length T); the loss is their sum."""
        W, c = self._check(W, c)
        return self._parts(W, c)[0]


GAP_FLOOR = 1e-12  # relative gaps are taken w.r.t. max(P(W), GAP_FLOOR · P(0)); see relative_gap


def relative_gap(gap: float | np.ndarray, primal: float | np.ndarray, start: float | np.ndarray) -> float:
    """``Σ gap / Σ max(P, GAP_FLOOR · P₀)`` (elementwise for per-task arrays): the relative duality gap,
    except that an objective below 1e-12 of its value at W = 0 (``start`` = P₀ = ½‖Y‖² for centred least
    squares) is measured against that floor, where the residual is round-off: a model that interpolates the
    data (P* = 0, e.g. more features than samples) would otherwise keep a relative gap near 1 for ever."""
    denom = np.maximum(np.maximum(primal, GAP_FLOOR * np.asarray(start)), np.finfo(float).tiny)
    return float(np.sum(np.maximum(gap, 0.0)) / np.sum(denom))


class LeastSquaresLoss(SmoothLoss):
    """``Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²`` and its gradient (see module docstring)."""

    kind = "least_squares"

    def _prepare(self) -> None:
        """Per-task sums, Xᵀy and (when cheaper than the data) the Gram matrices."""
        d, T = self.n_features, self.n_tasks
        self.sy = np.array([y.sum() for y in self.ys])
        self.yy = np.array([y @ y for y in self.ys])
        if self.shared:  # one pass over X for all tasks
            X0 = self.Xs[0]
            self.S = np.repeat(X0.sum(axis=0)[:, None], T, axis=1)
            self.B = X0.T @ np.stack(self.ys, axis=1)
        else:
            self.S = np.stack([X.sum(axis=0) for X in self.Xs], axis=1) if T else np.zeros((d, 0))  # d x T
            self.B = np.stack([X.T @ y for X, y in zip(self.Xs, self.ys)], axis=1)  # d x T
        if self.shared:
            self.use_gram = self.Xs[0].shape[0] > d
            self.G = self.Xs[0].T @ self.Xs[0] if self.use_gram else None
        else:
            self.use_gram = self.n_samples.sum() > T * d and T * d * d <= _GRAM_MAX_ENTRIES
            self.G = np.stack([X.T @ X for X in self.Xs]) if self.use_gram else None  # T x d x d

    def curvature(self) -> tuple[np.ndarray, np.ndarray]:
        """The Hessian's diagonal: ``(XₜᵀXₜ)ⱼⱼ`` (d x T) and nₜ for the intercepts."""
        if self.use_gram:
            diag = np.einsum("jj->j", self.G)[:, None].repeat(self.n_tasks, 1) if self.shared else (
                np.einsum("tjj->jt", self.G))
        else:
            diag = self._column_squares()
        return diag, self.n_samples.copy()

    def _parts(self, W: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-task values, grad_W, grad_c."""
        if self.use_gram:
            GW = self.G @ W if self.shared else np.einsum("tij,jt->it", self.G, W)
            quad = np.sum(W * GW, axis=0)
            lin = np.sum(self.B * W, axis=0)
            sw = np.sum(self.S * W, axis=0)
            vals = 0.5 * (self.yy - 2 * lin + quad - 2 * c * (self.sy - sw) + self.n_samples * c * c)
            gW = GW - self.B + self.S * c
            gc = sw - self.sy + self.n_samples * c
            return np.maximum(vals, 0.0), gW, gc
        if self.shared:
            X = self.Xs[0]
            R = np.stack(self.ys, axis=1) - X @ W - c  # n x T residuals
            return 0.5 * np.sum(R * R, axis=0), -(X.T @ R), -R.sum(axis=0)
        vals = np.empty(self.n_tasks)
        gW = np.empty_like(W)
        gc = np.empty(self.n_tasks)
        for t, (X, y) in enumerate(zip(self.Xs, self.ys)):
            r = y - X @ W[:, t] - c[t]
            vals[t] = 0.5 * (r @ r)
            gW[:, t] = -(X.T @ r)
            gc[t] = -r.sum()
        return vals, gW, gc


class LogisticLoss(SmoothLoss):
    """``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))`` with labels in {−1, +1} (see module docstring)."""

    kind = "logistic"

    def _prepare(self) -> None:
        """Check the labels; the per-task weights 1/nₜ of the mean."""
        for t, y in enumerate(self.ys):
            if not np.all(np.abs(y) == 1.0):
                raise ValueError(f"task {t}: logistic labels must be -1 or +1")
        self.weights = np.where(self.n_samples > 0, 1.0 / np.maximum(self.n_samples, 1.0), 0.0)

    def curvature(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of the Hessian's diagonal (σ' ≤ 1/4): ``Σᵢ xₜᵢⱼ² / (4nₜ)`` (d x T) and 1/4 per intercept."""
        return 0.25 * self._column_squares() * self.weights, 0.25 * self.weights * self.n_samples

    def _parts(self, W: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.shared:
            X = self.Xs[0]
            Y = np.stack(self.ys, axis=1)
            M = Y * (X @ W + c)  # margins, n x T
            vals = self.weights * np.logaddexp(0.0, -M).sum(axis=0)
            Bm = -Y * expit(-M) * self.weights  # d loss / d score
            return vals, X.T @ Bm, Bm.sum(axis=0)
        vals = np.empty(self.n_tasks)
        gW = np.empty_like(W)
        gc = np.empty(self.n_tasks)
        for t, (X, y) in enumerate(zip(self.Xs, self.ys)):
            m = y * (X @ W[:, t] + c[t])
            vals[t] = self.weights[t] * np.logaddexp(0.0, -m).sum()
            b = -y * expit(-m) * self.weights[t]
            gW[:, t] = X.T @ b
            gc[t] = b.sum()
        return vals, gW, gc


def least_squares(
    Xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], *, fit_intercept: bool = False
) -> LeastSquaresLoss:
    """MALSAR's least-squares loss ``Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²`` over (W, c)."""
    return LeastSquaresLoss(Xs, ys, fit_intercept=fit_intercept)


def logistic(
    Xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], *, fit_intercept: bool = True
) -> LogisticLoss:
    """MALSAR's logistic loss ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))`` over (W, c); labels ±1."""
    return LogisticLoss(Xs, ys, fit_intercept=fit_intercept)


Penalty = Callable[[np.ndarray], tuple[float, np.ndarray]]


class PenalisedLoss:
    """``loss(W, c) + Σ penalty(W)`` for smooth penalties ``penalty(W) -> (value, grad_W)``.

    Keeps the :class:`~multitask.classic._losses.SmoothLoss` call signature and forwards its
    attributes (``n_tasks``, ``n_features``, ``shared``, ``fit_intercept``, ...). ``quadratic=True``
    declares every penalty a PSD quadratic form of W (as :func:`quadratic_penalty`), so that a
    least-squares loss plus the penalties is still ``½‖A(W) − b‖²`` (the duality gap relies on it).
    """

    def __init__(self, loss: SmoothLoss, *penalties: Penalty, quadratic: bool = False) -> None:
        self.loss = loss
        self.penalties = penalties
        self.quadratic = quadratic

    def __getattr__(self, name: str) -> object:
        if name == "loss":  # not set yet (e.g. during unpickling): avoid infinite recursion
            raise AttributeError(name)
        return getattr(self.loss, name)

    def __call__(
        self, W: np.ndarray, c: np.ndarray | None = None
    ) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
        f, (gW, gc) = self.loss(W, c)
        for pen in self.penalties:
            v, g = pen(W)
            f += v
            gW = gW + g
        return float(f), (gW, gc)

    def value(self, W: np.ndarray, c: np.ndarray | None = None) -> float:
        """The penalised value alone."""
        return self(W, c)[0]

    def curvature(self) -> tuple[np.ndarray, np.ndarray]:
        """The loss's Hessian diagonal plus each penalty's ``diag`` attribute where it has one (a
        scalar, a length-T or a d x T array of its own Hessian's diagonal, or a lower estimate of it)."""
        dW, dc = self.loss.curvature()
        for pen in self.penalties:
            extra = getattr(pen, "diag", None)
            if extra is not None:
                dW = dW + np.asarray(extra, dtype=float)
        return dW, dc


def quadratic_penalty(strength: float, gram: np.ndarray) -> Penalty:
    """``strength · tr(W G Wᵀ)`` with symmetric PSD G (T x T): value and gradient ``2·strength·W G``."""

    def pen(W: np.ndarray) -> tuple[float, np.ndarray]:
        WG = W @ gram
        return strength * float(np.sum(WG * W)), 2.0 * strength * WG

    pen.diag = 2.0 * strength * np.diag(np.asarray(gram, dtype=float))  # type: ignore[attr-defined]
    return pen

