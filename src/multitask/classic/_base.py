"""Base class of the classical (MALSAR-style) multi-task linear estimators.

Three input forms, all with one linear model per task (``coef_[t]``, ``intercept_[t]``):

* **shared design** — ``fit(X, Y)`` with ``Y`` of shape (n_samples, n_tasks) (or 1-D: one task): every
  task sees the same rows of X; ``predict(X)`` returns (n_samples, n_tasks) (1-D after a 1-D fit);
* **per-task rows** — ``fit(X, y, task=t)`` with ``y`` 1-D and ``t`` an integer task id per row
  (0..T−1; tasks may have different numbers of samples, as in School); ``predict(X, task=t)`` returns
  one prediction per row, for that row's task (``task`` may be a single int for all rows).
  ``predict(X)`` without ``task`` returns every task's prediction, (n_samples, n_tasks);
* **task column** — with ``task_column=j`` the task id of each row is column j of X (the other columns
  are the features): ``fit(X, y)``, ``predict(X)`` (one prediction per row) and ``score(X, y)`` then
  need no ``task`` argument, so the estimator works unchanged inside scikit-learn's model selection
  (``GridSearchCV``, ``cross_val_score``), whose ``predict`` / ``score`` calls pass X only.

Hyper-parameters are dataclass fields (:data:`hyperparameters`): the generated ``__init__`` has the
explicit signature scikit-learn's ``get_params`` reads, the fields common to every estimator are
keyword-only and come last, and a classifier that only changes a default redeclares that one field.

Subclasses implement ``_fit_coef(Xs, ys, loss) -> (W, c)`` with W of shape (n_features, n_tasks) and c
of length n_tasks, where ``Xs[t]``, ``ys[t]`` are task t's samples and ``loss`` is a
:class:`~multitask.classic._losses.SmoothLoss` (least squares for regressors, logistic with labels ±1
for classifiers); they set ``objective_path_`` and ``n_iter_``.

The regression / classification behaviour (loss, targets, predict, score) comes from the mixins of
:mod:`multitask.classic._mixins`, put first in an estimator's bases.

Intercepts are unpenalised. For least squares the intercept is profiled out exactly: X and y are
centred per task, the centred problem is solved without intercept, and ``cₜ = ȳₜ − x̄ₜᵀwₜ`` — the joint
minimiser over (W, c). For the logistic loss the intercepts are optimised jointly with W by the solver.
MALSAR's ``Least_*`` functions fit no intercept (``fit_intercept=False`` here); its ``Logistic_*``
functions fit one per task, as here.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from multitask.classic._fista import STOP_RULES
from multitask.classic._losses import SmoothLoss, least_squares, logistic

__all__ = ["MultiTaskLinearModel", "hyperparameters", "check_task_ids"]

INITS = ("zero", "lstsq")

hyperparameters = dataclasses.dataclass(eq=False, repr=False)
"""Class decorator of every estimator: its annotated fields are its hyper-parameters (scikit-learn's
``repr``, equality by identity and ``get_params`` are kept)."""


def check_task_ids(task: object, n_rows: int, *, n_tasks: int | None = None) -> np.ndarray:
    """Validate per-row task ids (an int broadcasts to every row)."""
    t = np.asarray(task)
    if t.ndim == 0:
        t = np.full(n_rows, t)
    if t.ndim != 1 or t.shape[0] != n_rows:
        raise ValueError(f"task must be an int or one task id per row ({n_rows}), got shape {np.shape(task)}")
    if t.dtype == bool or not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating)):
        raise TypeError(f"task ids must be integers, got dtype {t.dtype}")
    if np.issubdtype(t.dtype, np.floating):
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise ValueError("task ids must be whole numbers")
    t = t.astype(np.int64)
    if t.size and t.min() < 0:
        raise ValueError(f"task ids must be non-negative, got {int(t.min())}")
    if n_tasks is not None and t.size and t.max() >= n_tasks:
        bad = sorted(set(t[t >= n_tasks].tolist()))[:5]
        raise ValueError(f"unknown task id(s) {bad}: the model was fitted on tasks 0..{n_tasks - 1}")
    return t


@dataclasses.dataclass(eq=False, repr=False, kw_only=True)
class MultiTaskLinearModel(BaseEstimator):
    """Shared machinery: input validation, the input forms, intercepts, initialisation, prediction.

    Its parameters are common to every estimator (keyword-only, after the estimator's own), and its
    attributes to every fitted estimator.

    Args:
        fit_intercept: fit an unpenalised intercept per task (default True; MALSAR's ``Least_*``
            functions have none, i.e. ``fit_intercept=False``).
        max_iter: maximal solver iterations (MALSAR ``opts.maxIter``, default 1000).
        tol: stopping tolerance (default 1e-4); under the default ``stop="gap"`` it bounds the relative
            suboptimality ``(P − P*)/P``, the same for every estimator (P measured at least as 1e-12 of its
            value at W = 0, so that a model interpolating its data, ``P* = 0``, can certify).
        stop: ``"gap"`` (default): stop when ``gap_`` ≤ ``tol`` (checked every 10 iterations), a proven
            upper bound of ``(P − P*)/P`` by the relative duality gap for the least-squares Lasso, L21, Trace,
            Dirty, rMTFL, RMTL, SparseTrace, TGL, SRMTL, MTFL and MTRL, and estimated by the relative KKT
            residual (gradient mapping) for cFSGL, CMTL, cASO, MSMTFL's stages, the classifiers and a
            least-squares fit with a norm strength of 0 (no dual point certifies a free part). The
            certified solvers: coordinate descent for the least-squares Lasso and L21
            (:mod:`multitask.classic._cd`), ADMM for the trace norm, RMTL, rMTFL, MTFL, MTRL and L21
            with per-task rows (:mod:`multitask.classic._admm`), FISTA with a per-feature
            preconditioner, adaptive restart and one gradient per iteration otherwise
            (:mod:`multitask.classic._fista`); MTFL and MTRL solve their objective minimised over the
            covariance (:mod:`multitask.classic._alternating`), their alternating scheme is
            ``solver="alternating"``. MALSAR's rules run MALSAR's plain FISTA (MTFL and MTRL with
            ``solver="alternating"``: their alternation) and certify nothing: ``"rel_change"`` (MALSAR's
            ``tFlag = 1``: relative objective change between two iterations at most ``tol``),
            ``"obj_change"`` (absolute change), ``"iterate_change"``.
        init: ``"zero"`` or ``"lstsq"`` (per-task least-squares solution) starting point.
        warm_start: start from the previous fit's solution when the shapes agree.
        verbose: print the objective every iteration.
        task_column: None (default), or the index of the column of X that holds each row's task id
            (then ``fit(X, y)``, ``predict(X)``, ``score(X, y)`` use it and the other columns are the
            features; see the module docstring).

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_, objective_path_ (the objective
        after each iteration; for ADMM and coordinate descent, at each certificate), n_iter_ (iterations run,
        or coordinate-descent epochs), gap_ (at the solution, whatever the ``stop`` rule: the relative
        duality gap, or the relative KKT residual where no dual is computed, see ``stop``).
    """

    fit_intercept: bool = True
    max_iter: int = 1000
    tol: float = 1e-4
    stop: str = "gap"
    init: str = "zero"
    warm_start: bool = False
    verbose: bool = False
    task_column: int | None = None

    _loss_kind = "least_squares"
    _nonneg_params = ()  # names of the hyper-parameters that must be finite and >= 0 (class attribute)

    # ------------------------------------------------------------------ hooks for subclasses
    def _fit_coef(
        self, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _validate_params_extra(self) -> None:
        """Subclasses check their own hyper-parameters here (raise ValueError naming the field); by
        default, those named in ``_nonneg_params`` must be finite and >= 0."""
        self._check_nonneg(**{name: getattr(self, name) for name in self._nonneg_params})

    def _check_nonneg(self, **params: float) -> None:
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{type(self).__name__}: {name} must be a real number, got {value!r}")
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{type(self).__name__}: {name} must be finite and >= 0, got {value!r}")

    # ------------------------------------------------------------------ validation
    def _validate_common(self) -> None:
        name = type(self).__name__
        if (
            not isinstance(self.max_iter, (int, np.integer))
            or isinstance(self.max_iter, bool)
            or self.max_iter < 1
        ):
            raise ValueError(f"{name}: max_iter must be a positive integer, got {self.max_iter!r}")
        self._check_nonneg(tol=self.tol)
        if self.stop not in STOP_RULES:
            raise ValueError(f"{name}: stop must be one of {STOP_RULES}, got {self.stop!r}")
        if self.init not in INITS:
            raise ValueError(f"{name}: init must be one of {INITS}, got {self.init!r}")
        j = self.task_column
        if j is not None and (isinstance(j, bool) or not isinstance(j, (int, np.integer))):
            raise TypeError(f"{name}: task_column must be None or a column index (int), got {j!r}")
        self._validate_params_extra()

    def _encode_targets(self, y: np.ndarray) -> np.ndarray:
        """Regressors: float targets. The classifier mixin overrides (labels -> ±1, sets classes_)."""
        return np.asarray(y, dtype=float)

    def _validate_xy(self, X: object, y: object) -> tuple[np.ndarray, np.ndarray]:
        return validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)

    def _take_task_column(self, X: np.ndarray, task: object) -> tuple[np.ndarray, object]:
        """Split X into (features, task ids) when ``task_column`` is set; else return (X, task)."""
        j = self.task_column
        if j is None:
            return X, task
        name = type(self).__name__
        if task is not None:
            raise ValueError(
                f"{name}: give the task ids either as task= or in column task_column={j} of X, not both"
            )
        if not -X.shape[1] <= j < X.shape[1] or X.shape[1] < 2:
            raise ValueError(
                f"{name}: task_column={j} needs X with that column and at least one feature column, "
                f"got {X.shape[1]} column(s)"
            )
        try:
            ids = check_task_ids(X[:, j], X.shape[0])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}: column task_column={j} of X must hold task ids: {err}") from None
        return np.delete(X, j, axis=1), ids

    def _split(self, X: np.ndarray, Y: np.ndarray, task: object) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if task is None:
            self._shared_form_ = True
            self._single_output_ = Y.ndim == 1
            Y2 = Y.reshape(-1, 1) if Y.ndim == 1 else Y
            T = Y2.shape[1]
            return [X] * T, [Y2[:, t] for t in range(T)]
        if Y.ndim == 2:
            if Y.shape[1] != 1:
                raise ValueError(f"with task ids, y must be 1-D (one target per row), got shape {Y.shape}")
            Y = Y.ravel()
        t = check_task_ids(task, X.shape[0])
        self._shared_form_ = False
        self._single_output_ = False
        T = int(t.max()) + 1
        return [X[t == k] for k in range(T)], [Y[t == k] for k in range(T)]

    # ------------------------------------------------------------------ fit
    def fit(self, X: object, y: object, task: object = None) -> MultiTaskLinearModel:
        """Fit the model: ``fit(X, Y)`` (shared design), ``fit(X, y, task=t)`` (per-task rows) or
        ``fit(X, y)`` with the task ids in column ``task_column`` of X."""
        self._validate_common()
        X, Y = self._validate_xy(X, y)
        X, task = self._take_task_column(X, task)
        Y = self._encode_targets(Y)
        Xs, ys = self._split(X, Y, task)
        T, d = len(Xs), X.shape[1]
        shared = task is None
        center = self._loss_kind == "least_squares" and self.fit_intercept
        if center:
            xbar = np.stack([Xt.mean(axis=0) if Xt.shape[0] else np.zeros(d) for Xt in Xs])
            ybar = np.array([yt.mean() if yt.shape[0] else 0.0 for yt in ys])
            if shared:
                Xc = X - xbar[0]
                Xs = [Xc] * T
            else:
                Xs = [Xt - xbar[k] for k, Xt in enumerate(Xs)]
            ys = [yt - ybar[k] for k, yt in enumerate(ys)]
        if self._loss_kind == "least_squares":
            loss = least_squares(Xs, ys, fit_intercept=False)
        else:
            loss = logistic(Xs, ys, fit_intercept=bool(self.fit_intercept))
        self._prev_fit_ok = getattr(self, "coef_", None) is not None and self.coef_.shape == (T, d)
        W, c = self._fit_coef(Xs, ys, loss)
        W = np.asarray(W, dtype=float).reshape(d, T)
        c = np.zeros(T) if c is None else np.asarray(c, dtype=float).reshape(T)
        if center:
            c = ybar - np.einsum("td,dt->t", xbar, W)
        elif not self.fit_intercept:
            c = np.zeros(T)
        self.coef_ = W.T.copy()
        self.intercept_ = c
        self.n_tasks_ = T
        gap = float(getattr(self, "gap_", np.nan))
        if not gap <= self.tol if self.stop == "gap" else self.n_iter_ >= self.max_iter:
            reached = f"; relative duality gap {gap:.3g}" if np.isfinite(gap) else ""
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={self.max_iter} iterations "
                f"(stop={self.stop!r}, tol={self.tol}{reached}); increase max_iter or tol",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    # ------------------------------------------------------------------ initialisation
    def _initial_coef(
        self, Xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], loss: SmoothLoss
    ) -> tuple[np.ndarray, np.ndarray]:
        """Starting (W0, c0): the previous solution under ``warm_start``, else zeros or per-task lstsq."""
        d, T = loss.n_features, loss.n_tasks
        if self.warm_start and getattr(self, "_prev_fit_ok", False):
            c0 = np.asarray(self.intercept_, dtype=float).copy() if loss.fit_intercept else np.zeros(T)
            return self.coef_.T.copy(), c0
        if self.init == "lstsq":
            if loss.shared:
                W0 = (
                    np.linalg.lstsq(Xs[0], np.stack(ys, axis=1), rcond=None)[0]
                    if Xs[0].shape[0]
                    else np.zeros((d, T))
                )
            else:
                W0 = np.stack(
                    [
                        np.linalg.lstsq(X, y, rcond=None)[0] if X.shape[0] else np.zeros(d)
                        for X, y in zip(Xs, ys)
                    ],
                    axis=1,
                )
            return W0.reshape(d, T), np.zeros(T)
        return np.zeros((d, T)), np.zeros(T)

    # ------------------------------------------------------------------ prediction
    def _task_ids(self, X: object, task: object) -> tuple[np.ndarray, np.ndarray | None]:
        """Validated features and per-row task ids (None: every task's prediction is wanted)."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        X, task = self._take_task_column(X, task)
        if task is None:
            return X, None
        return X, check_task_ids(task, X.shape[0], n_tasks=self.n_tasks_)

    def _scores(self, X: object, task: object) -> np.ndarray:
        return self._linear(*self._task_ids(X, task))

    def _linear(self, X: np.ndarray, t: np.ndarray | None) -> np.ndarray:
        """``X wₜ + cₜ`` for validated features: every task's, or row i's task t[i] only."""
        S = X @ self.coef_.T + self.intercept_
        if t is None:
            return S[:, 0] if self._single_output_ else S
        return S[np.arange(X.shape[0]), t]

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags type
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
