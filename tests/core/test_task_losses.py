"""Default dense losses on inputs whose answer is not 0, against their rules re-derived here.

Depth: L1 over valid pixels (MTAN's ``model_fit``: ``Σ |p - d| · mask / #valid``); normals: ``1 - cos`` over
valid pixels (MTAN: ``1 - Σ (p̂ · n) · mask / #valid``); edges: the class-balanced (HED-style) BCE of
the Vandenhende survey's ``BalancedCrossEntropyLoss`` (``w = #neg / #all``,
``(w Σ_pos ℓ + (1 - w) Σ_neg ℓ) / #all``), which ours scales by 2. Each test also computes the plausible
bug (dividing by all pixels) and checks that it gives a different number, so the test can fail on it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from multitask import Task


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().double().numpy()


def test_depth_loss_divides_by_valid_pixels_only() -> None:
    task = Task("depth", "depth", 1)
    target = torch.tensor([[[[1.0, 0.0], [2.0, 0.0]]]])  # two valid pixels, two missing (0)
    pred = torch.tensor([[[[1.5, 9.0], [1.0, 7.0]]]])  # errors on valid pixels: 0.5 and 1.0
    loss = task.loss(pred, target)
    assert float(loss) == pytest.approx(0.75)
    assert abs(float(loss) - 1.5 / 4) > 0.3  # the sum over valid pixels divided by all pixels

    gen = torch.Generator().manual_seed(0)
    target = torch.rand(3, 1, 6, 5, generator=gen) + 0.5
    target[torch.rand(3, 1, 6, 5, generator=gen) < 0.4] = 0.0
    pred = torch.randn(3, 1, 6, 5, generator=gen)
    t, p = _np(target), _np(pred)
    valid = t != 0
    expected = np.abs(p - t)[valid].sum() / valid.sum()
    buggy = np.abs(p - t)[valid].sum() / t.size
    loss = float(task.loss(pred, target))
    assert loss == pytest.approx(expected, rel=1e-6)
    assert abs(loss - buggy) > 0.1


def test_normals_loss_is_one_minus_cosine_over_valid_pixels() -> None:
    task = Task("normals", "normals", 3)
    target = torch.zeros(1, 3, 1, 4)
    target[0, :, 0, 0] = torch.tensor([0.0, 0.0, 1.0])
    target[0, :, 0, 1] = torch.tensor([1.0, 0.0, 0.0])  # pixels 2 and 3 are all-zero: invalid
    pred = torch.zeros(1, 3, 1, 4)
    pred[0, :, 0, 0] = torch.tensor([0.0, 0.0, 5.0])  # same direction: 1 - cos = 0
    pred[0, :, 0, 1] = torch.tensor([0.0, 2.0, 0.0])  # orthogonal: 1 - cos = 1
    pred[0, :, 0, 2] = torch.tensor([-1.0, 0.0, 0.0])
    pred[0, :, 0, 3] = torch.tensor([0.0, -3.0, 0.0])
    loss = float(task.loss(pred, target))
    assert loss == pytest.approx(0.5)
    assert abs(loss - 1.0 / 4) > 0.2  # dividing by all 4 pixels

    gen = torch.Generator().manual_seed(1)
    target = torch.nn.functional.normalize(torch.randn(2, 3, 5, 4, generator=gen), dim=1)
    target[:, :, torch.rand(5, 4, generator=gen) < 0.5] = 0.0
    pred = torch.randn(2, 3, 5, 4, generator=gen)
    t, p = _np(target), _np(pred)
    valid = np.abs(t).sum(axis=1) != 0  # [B, H, W]
    p_hat = p / np.linalg.norm(p, axis=1, keepdims=True)
    cos = (p_hat * t).sum(axis=1)
    expected = 1.0 - cos[valid].sum() / valid.sum()  # MTAN's form
    buggy = (1.0 - cos)[valid].sum() / valid.size
    loss = float(task.loss(pred, target))
    assert loss == pytest.approx(expected, rel=1e-6)
    assert abs(loss - buggy) > 0.1


def _balanced_bce(logits: np.ndarray, labels: np.ndarray) -> float:
    """The survey's BalancedCrossEntropyLoss (HED weighting, size-averaged), re-derived with numpy."""
    y = (labels >= 0.5).astype(float)
    w = (1 - y).sum() / y.size
    nll = np.logaddexp(0.0, logits) - y * logits  # -[y log σ(x) + (1 - y) log(1 - σ(x))]
    return float((w * (y * nll).sum() + (1 - w) * ((1 - y) * nll).sum()) / y.size)


def test_edge_loss_is_twice_the_survey_balanced_bce() -> None:
    task = Task("edges", "edges", 1)
    target = torch.tensor([1.0, 0.0, 0.0, 0.0]).reshape(1, 1, 2, 2)
    logits = torch.zeros(1, 1, 2, 2)  # every pixel costs log 2
    # w = 3/4: (3/4 · log 2 + 1/4 · 3 log 2) / 4 = 3/8 log 2 per the survey; ours is twice that
    assert float(task.loss(logits, target)) == pytest.approx(0.75 * math.log(2.0))
    assert _balanced_bce(_np(logits), _np(target)) == pytest.approx(0.375 * math.log(2.0))

    gen = torch.Generator().manual_seed(2)
    target = (torch.rand(2, 1, 7, 6, generator=gen) < 0.15).float()
    logits = torch.randn(2, 1, 7, 6, generator=gen) * 3
    loss = float(task.loss(logits, target))
    assert loss == pytest.approx(2.0 * _balanced_bce(_np(logits), _np(target)), rel=1e-6)
    # not the unbalanced BCE (a loss that forgot the weights)
    y, x = _np(target), _np(logits)
    plain = float(np.mean(np.logaddexp(0.0, x) - y * x))
    assert abs(loss - plain) > 0.05 and abs(loss - 2 * plain) > 0.05
