"""Pixel-exact edge metrics (PixelEdgeMetrics): hand example, brute-force ODS, streaming, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, precision_score, recall_score

from multitask.metrics import PixelEdgeMetrics as EdgeMetrics


def _logit(p: list[float]) -> torch.Tensor:
    return torch.tensor([math.log(q / (1 - q)) for q in p], dtype=torch.float64)


def test_edges_hand_example() -> None:
    # probabilities 0.95 0.65 0.35 0.145, edges at the 1st and 3rd pixel
    pred = _logit([0.95, 0.65, 0.35, 0.145]).reshape(1, 1, 1, 4)
    target = torch.tensor([1.0, 0.0, 1.0, 0.0]).reshape(1, 1, 1, 4)
    m = EdgeMetrics(task="edge")
    m.update(pred, target)
    out = m.compute()
    assert list(out) == ["ods_f", "f1", "precision", "recall"]
    # at 0.5: predicted {0.95, 0.65}: tp 1, fp 1, fn 1 -> P = R = F = 0.5
    assert out["precision"] == pytest.approx(0.5) and out["recall"] == pytest.approx(0.5)
    assert out["f1"] == pytest.approx(0.5)
    # for 0.145 <= tau < 0.35: tp 2, fp 1, fn 0 -> P = 2/3, R = 1, F = 0.8 (the best over thresholds)
    assert out["ods_f"] == pytest.approx(0.8)
    assert m.best_threshold() == pytest.approx(0.15)


def test_edges_ods_equals_brute_force_and_streams() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, 1, 9, 11) * 2
    target = (torch.rand(4, 1, 9, 11) < 0.2).float()
    m = EdgeMetrics(num_thresholds=19, task="edge")
    for i in range(4):
        m.update(logits[i : i + 1], target[i : i + 1])
    q = torch.sigmoid(logits.double()).numpy().ravel()
    y = target.numpy().ravel().astype(int)
    best = max(f1_score(y, (q > k / 20).astype(int), zero_division=0) for k in range(1, 20))
    out = m.compute()
    assert out["ods_f"] == pytest.approx(best, abs=1e-12)
    guess = (q > 0.5).astype(int)
    assert out["f1"] == pytest.approx(f1_score(y, guess), abs=1e-12)
    assert out["precision"] == pytest.approx(precision_score(y, guess), abs=1e-12)
    assert out["recall"] == pytest.approx(recall_score(y, guess), abs=1e-12)
    thresholds, precision, recall, f = m.curve()
    expected = [precision_score(y, (q > t).astype(int), zero_division=0) for t in thresholds.tolist()]
    np.testing.assert_allclose(precision.numpy(), expected, atol=1e-12)
    assert recall[0] >= recall[-1]  # recall falls as the threshold rises
    assert f.max() == pytest.approx(best)


def test_edges_fixed_threshold_resize_and_errors() -> None:
    m = EdgeMetrics(threshold=0.8, task="edge")
    target = torch.zeros(1, 1, 4, 4)
    target[..., 0, :] = 1.0
    m.update(torch.full((1, 1, 2, 2), math.log(0.7 / 0.3)), target)  # q = 0.7 everywhere after resize
    out = m.compute()
    assert out["f1"] == 0.0 and out["precision"] == 0.0 and out["recall"] == 0.0  # nothing above 0.8
    assert out["ods_f"] == pytest.approx(2 * 4 / (2 * 4 + 12))  # all predicted at tau < 0.7
    with pytest.raises(ValueError, match="'edge'.*\\[0, 1\\]"):
        m.update(torch.zeros(1, 1, 4, 4), target * 2)
    with pytest.raises(ValueError, match="'edge'.*threshold"):
        EdgeMetrics(threshold=1.0, task="edge")
    with pytest.raises(ValueError, match="'edge'.*\\[B, 1, H, W\\]"):
        m.update(torch.zeros(1, 2, 4, 4), target)
