"""scikit-learn's estimator checks on the shared-design form of every classical estimator."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import multitask.classic as classic

NAMES = sorted(n for n in classic.__all__ if n.endswith(("Regressor", "Classifier")))
ESTIMATORS = [getattr(classic, name)(max_iter=300) for name in NAMES]


def test_every_estimator_is_checked():
    assert len(ESTIMATORS) == 28


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
