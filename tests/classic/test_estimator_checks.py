"""scikit-learn's estimator checks on the shared-design form of every estimator of this half."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from multitask.classic import (
    DirtyClassifier,
    DirtyRegressor,
    L21Classifier,
    L21Regressor,
    LassoClassifier,
    LassoRegressor,
    RMTFLClassifier,
    RMTFLRegressor,
    RMTLClassifier,
    RMTLRegressor,
    SparseTraceClassifier,
    SparseTraceRegressor,
    TraceClassifier,
    TraceRegressor,
)

ESTIMATORS = [
    LassoRegressor(max_iter=300),
    LassoClassifier(max_iter=300),
    L21Regressor(max_iter=300),
    L21Classifier(max_iter=300),
    TraceRegressor(max_iter=300),
    TraceClassifier(max_iter=300),
    DirtyRegressor(max_iter=300),
    DirtyClassifier(max_iter=300),
    RMTFLRegressor(max_iter=300),
    RMTFLClassifier(max_iter=300),
    RMTLRegressor(max_iter=300),
    RMTLClassifier(max_iter=300),
    SparseTraceRegressor(max_iter=300),
    SparseTraceClassifier(max_iter=300),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
