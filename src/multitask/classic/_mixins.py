"""The task-type mixins of the classical estimators: least-squares regression and binary logistic
classification (loss kind, target encoding, ``predict`` / ``decision_function`` / ``predict_proba`` and
``score``). An estimator is ``class XRegressor(MultiTaskRegressorMixin, _X)`` or
``class XClassifier(MultiTaskClassifierMixin, _X)`` with ``_X`` a
:class:`~multitask.classic._base.MultiTaskLinearModel`; the mixin comes first so that its methods win.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import r2_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

__all__ = ["MultiTaskRegressorMixin", "MultiTaskClassifierMixin", "task_averaged_r2"]


class MultiTaskRegressorMixin(RegressorMixin):
    """Least-squares loss, ``predict`` and ``score`` (R² averaged over tasks) of the regressors; put it
    before the estimator's base in the class bases (``class XRegressor(MultiTaskRegressorMixin, _X)``).

    Other scores of the field by name (pooled explained variance, nMSE): :mod:`multitask.classic.scoring`.
    """

    _loss_kind = "least_squares"

    def predict(self, X: object, task: object = None) -> np.ndarray:
        """Predictions: (n_samples, n_tasks) without task ids (1-D after a 1-D fit), else one per row."""
        return self._scores(X, task)

    def score(self, X: object, y: object, task: object = None) -> float:
        """R² of each task, averaged over the tasks (scikit-learn's ``r2_score`` with
        ``multioutput="uniform_average"`` in the shared design). With task ids (``task`` or
        ``task_column``): R² within each task that has at least two rows, averaged over those tasks —
        not the pooled explained variance (for that, :func:`multitask.classic.scoring.get_scorer`)."""
        X_feat, t = self._task_ids(X, task)
        pred = self._linear(X_feat, t)
        y = np.asarray(y, dtype=float)
        if t is None:
            return float(r2_score(y, pred))
        return task_averaged_r2(y.ravel(), pred, t)


def task_averaged_r2(y: np.ndarray, pred: np.ndarray, task: np.ndarray) -> float:
    """Mean over the tasks with at least two rows of the R² within the task."""
    scores = [
        r2_score(y[task == k], pred[task == k]) for k in np.unique(task) if np.count_nonzero(task == k) >= 2
    ]
    if not scores:
        raise ValueError("score needs at least one task with two or more rows")
    return float(np.mean(scores))


class MultiTaskClassifierMixin(ClassifierMixin):
    """Logistic loss, labels, ``decision_function`` / ``predict`` / ``predict_proba`` and ``score`` (the
    accuracy over all predictions) of the binary classifiers (any two labels, shared by all tasks); put it
    before the estimator's base in the class bases."""

    _loss_kind = "logistic"

    def _validate_xy(self, X: object, y: object) -> tuple[np.ndarray, np.ndarray]:
        X, Y = validate_data(self, X, y, multi_output=True, dtype=np.float64)
        check_classification_targets(Y)
        return X, Y

    def _encode_targets(self, y: np.ndarray) -> np.ndarray:
        enc = LabelEncoder().fit(np.asarray(y).ravel())
        if len(enc.classes_) != 2:
            raise ValueError(
                f"Only binary classification is supported. {type(self).__name__} needs y with exactly 2 "
                f"classes (shared by all tasks), got {len(enc.classes_)} class(es)"
            )
        self.classes_ = enc.classes_
        codes = enc.transform(np.asarray(y).ravel()).reshape(np.shape(y))
        return 2.0 * codes - 1.0

    def decision_function(self, X: object, task: object = None) -> np.ndarray:
        """Linear scores ``X wₜ + cₜ``: (n_samples, n_tasks), or one per row with task ids."""
        return self._scores(X, task)

    def predict(self, X: object, task: object = None) -> np.ndarray:
        """Class labels, shaped as :meth:`decision_function`."""
        S = self._scores(X, task)
        return self.classes_[(S > 0).astype(int)]

    def predict_proba(self, X: object, task: object = None) -> np.ndarray:
        """Class probabilities from the logistic model, σ(Xwₜ + cₜ) for ``classes_[1]``.

        For a single output (a 1-D fit, or task ids given): shape (n_samples, 2), columns ordered as
        ``classes_``. For all tasks at once: shape (n_samples, n_tasks), the probability of ``classes_[1]``
        (scikit-learn's convention for multi-output probabilities returned as one array).
        """
        S = self._scores(X, task)
        p1 = expit(S)
        return np.stack([1.0 - p1, p1], axis=-1) if S.ndim == 1 else p1

    def score(self, X: object, y: object, task: object = None) -> float:
        """Mean accuracy over all (row, task) predictions."""
        pred = self.predict(X, task)
        y = np.asarray(y)
        if y.shape != pred.shape:
            y = y.reshape(pred.shape)
        return float(np.mean(pred == y))

    def __sklearn_tags__(self):  # noqa: ANN204
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags
