"""Regression metrics: hand example, scikit-learn, streaming with a large offset, constant targets."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import explained_variance_score, mean_absolute_error, mean_squared_error, r2_score

from multitask.metrics import RegressionMetrics


def test_regression_hand_example() -> None:
    # y = 1 2 3 4, prediction 1 3 2 4: e = 0 -1 1 0, Var(y) = 1.25, Var(e) = 0.5
    m = RegressionMetrics(1, task="score")
    m.update(torch.tensor([1.0, 3.0]), torch.tensor([1.0, 2.0]))
    m.update(torch.tensor([[2.0], [4.0]]), torch.tensor([3.0, 4.0]))
    out = m.compute()
    assert list(out) == ["mae", "rmse", "explained_variance", "nmse"]
    assert out["mae"] == pytest.approx(0.5)
    assert out["rmse"] == pytest.approx(math.sqrt(0.5))
    assert out["explained_variance"] == pytest.approx(1 - 0.5 / 1.25)
    assert out["nmse"] == pytest.approx(0.5 / 1.25)
    assert m.higher_is_better == {"mae": False, "rmse": False, "explained_variance": True, "nmse": False}


@pytest.mark.parametrize("offset", [0.0, 1e7])
def test_regression_matches_sklearn_streaming(offset: float) -> None:
    torch.manual_seed(0)
    d = 3
    y = torch.randn(50, d, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64) + offset
    pred = y + 0.3 * torch.randn(50, d, dtype=torch.float64) + 0.1
    m = RegressionMetrics(d, task="joints")
    bounds = [0, 1, 8, 30, 50]  # uneven batches, one of size 1
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        m.update(pred[lo:hi], y[lo:hi])
    out = m.compute()
    yn, pn = y.numpy(), pred.numpy()
    assert out["mae"] == pytest.approx(mean_absolute_error(yn, pn), rel=1e-9)
    assert out["rmse"] == pytest.approx(math.sqrt(mean_squared_error(yn, pn)), rel=1e-9)
    assert out["explained_variance"] == pytest.approx(explained_variance_score(yn, pn), rel=1e-7)
    assert out["nmse"] == pytest.approx(
        float(np.mean(1 - r2_score(yn, pn, multioutput="raw_values"))), rel=1e-7
    )


def test_regression_merge_equals_one_shot() -> None:
    torch.manual_seed(1)
    y, pred = torch.randn(20, 2), torch.randn(20, 2)
    a, b, whole = (RegressionMetrics(2, task="t") for _ in range(3))
    a.update(pred[:5], y[:5])
    b.update(pred[5:], y[5:])
    whole.update(pred, y)
    a.merge(b)
    assert a.compute() == pytest.approx(whole.compute(), rel=1e-12)


def test_regression_constant_target_follows_sklearn_force_finite() -> None:
    y = torch.full((4, 1), 2.0)
    exact, off = RegressionMetrics(1, task="t"), RegressionMetrics(1, task="t")
    exact.update(y.clone(), y)
    off.update(y + torch.tensor([[0.0], [1.0], [0.0], [0.0]]), y)
    assert exact.compute()["explained_variance"] == explained_variance_score(y.numpy(), y.numpy()) == 1.0
    assert exact.compute()["nmse"] == 0.0
    pn = (y + torch.tensor([[0.0], [1.0], [0.0], [0.0]])).numpy()
    assert off.compute()["explained_variance"] == explained_variance_score(y.numpy(), pn) == 0.0
    assert off.compute()["nmse"] == 1.0 - r2_score(y.numpy(), pn) == 1.0


def test_regression_errors() -> None:
    m = RegressionMetrics(2, task="joints")
    with pytest.raises(ValueError, match="'joints'.*\\[B, 2\\]"):
        m.update(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="'joints'.*does not match"):
        m.update(torch.zeros(3, 3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="'joints'.*NaN"):
        m.update(torch.zeros(1, 2), torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="'joints'.*before any"):
        m.compute()
