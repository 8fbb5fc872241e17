"""Depth and surface-normal metrics: hand examples, invalid masks, streaming, numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from multitask.metrics import DepthMetrics, NormalsMetrics


def test_depth_hand_example_with_invalid_pixels() -> None:
    target = torch.tensor([[[[2.0, 0.0], [4.0, 1.0]]]])  # 0 = invalid: its prediction 5 must not count
    pred = torch.tensor([[[[1.0, 5.0], [4.0, 2.0]]]])
    m = DepthMetrics(task="depth")
    m.update(pred, target)
    out = m.compute()
    assert list(out) == ["abs_err", "rel_err", "rmse", "delta1"]
    assert out["abs_err"] == pytest.approx(2 / 3)  # |1-2|, |4-4|, |2-1|
    assert out["rel_err"] == pytest.approx((1 / 2 + 0 + 1 / 1) / 3)
    assert out["rmse"] == pytest.approx(math.sqrt(2 / 3))
    assert out["delta1"] == pytest.approx(1 / 3)  # ratios 2, 1, 2
    assert m.higher_is_better == {"abs_err": False, "rel_err": False, "rmse": False, "delta1": True}


def test_depth_nonpositive_prediction_is_never_within_delta() -> None:
    m = DepthMetrics(task="depth")
    m.update(torch.tensor([[[[-1.0, 0.0, 1.1]]]]), torch.tensor([[[[1.0, 1.0, 1.0]]]]))
    assert m.compute()["delta1"] == pytest.approx(1 / 3)


def test_depth_is_pooled_over_pixels_not_batches() -> None:
    # batch 1: one valid pixel with error 3; batch 2: three valid pixels with error 1
    m = DepthMetrics(task="depth")
    m.update(torch.tensor([[[[4.0, 9.0]]]]), torch.tensor([[[[1.0, 0.0]]]]))
    m.update(torch.tensor([[[[2.0, 3.0, 4.0]]]]), torch.tensor([[[[1.0, 2.0, 3.0]]]]))
    assert m.compute()["abs_err"] == pytest.approx(6 / 4)  # a mean of batch means would give 2.0
    assert m.compute()["rmse"] == pytest.approx(math.sqrt(12 / 4))


def test_depth_streaming_resize_and_errors() -> None:
    torch.manual_seed(0)
    target = torch.rand(4, 1, 6, 8) * 5
    target[target < 1] = 0
    pred = torch.rand(4, 1, 3, 4) * 5  # half resolution: bilinearly resized to 6x8
    streamed, single = DepthMetrics(task="depth"), DepthMetrics(task="depth")
    for i in range(4):
        streamed.update(pred[i : i + 1], target[i : i + 1])
    single.update(pred, target)
    up = torch.nn.functional.interpolate(pred, size=(6, 8), mode="bilinear", align_corners=False).double()
    t, p = target.double()[target > 0], up[target > 0]
    assert streamed.compute() == pytest.approx(single.compute(), rel=1e-12)
    assert streamed.compute()["abs_err"] == pytest.approx(float((p - t).abs().mean()), rel=1e-9)
    with pytest.raises(ValueError, match="'depth'.*>= 0"):
        streamed.update(pred, -target)
    with pytest.raises(ValueError, match="'depth'.*\\[B, 1, H, W\\]"):
        streamed.update(pred[:, 0], target[:, 0])


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def test_normals_hand_example() -> None:
    # target (0, 0, 1) everywhere except one invalid (all-zero) pixel; angles 0, 45, 90, 10 degrees
    s, c = math.sin(math.radians(10)), math.cos(math.radians(10))
    pred = torch.tensor([[0, 0, 1], [1, 0, 1], [0, 1, 0], [0, 2 * s, 2 * c], [1, 0, 0]]).T  # unnormalised OK
    target = torch.tensor([[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 0]], dtype=torch.float32).T
    m = NormalsMetrics(task="normal")
    m.update(pred.float().reshape(1, 3, 1, 5), target.reshape(1, 3, 1, 5))
    out = m.compute()
    assert list(out) == ["mean_angle", "median_angle", "within_11.25", "within_22.5", "within_30"]
    assert out["mean_angle"] == pytest.approx((0 + 45 + 90 + 10) / 4, abs=1e-4)
    assert out["median_angle"] == pytest.approx((10 + 45) / 2, abs=0.01)
    assert out["within_11.25"] == out["within_22.5"] == out["within_30"] == pytest.approx(0.5)
    assert m.main == "mean_angle" and m.higher_is_better["within_30"] is True


@pytest.mark.parametrize("resolution", [0.01, 0.5])
def test_normals_against_numpy_streaming(resolution: float) -> None:
    torch.manual_seed(0)
    target = torch.nn.functional.normalize(torch.randn(3, 3, 5, 6), dim=1)
    target[0, :, :2] = 0  # invalid rows
    pred = target + 0.4 * torch.randn(3, 3, 5, 6)
    m = NormalsMetrics(resolution=resolution, task="normal")
    for i in range(3):
        m.update(pred[i : i + 1], target[i : i + 1])
    t = target.double().permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    p = pred.double().permute(0, 2, 3, 1).reshape(-1, 3).numpy()
    valid = np.any(t != 0, axis=1)
    t, p = t[valid], p[valid]
    cos = np.sum(p * t, axis=1) / np.linalg.norm(p, axis=1) / np.linalg.norm(t, axis=1)
    angles = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    out = m.compute()
    assert out["mean_angle"] == pytest.approx(angles.mean(), abs=1e-9)
    assert abs(out["median_angle"] - np.median(angles)) <= resolution
    for th in (11.25, 22.5, 30):
        assert out[f"within_{th:g}"] == pytest.approx(np.mean(angles < th), abs=1e-12)


def test_normals_resize_and_errors() -> None:
    m = NormalsMetrics(task="normal")
    target = torch.zeros(1, 3, 4, 4)
    target[:, 2] = 1.0
    m.update(torch.tensor([0.0, 1.0, 1.0]).reshape(1, 3, 1, 1), target)  # constant 45 degrees after resize
    assert m.compute()["mean_angle"] == pytest.approx(45.0, abs=1e-6)
    assert m.compute()["median_angle"] == pytest.approx(45.0, abs=0.01)
    with pytest.raises(ValueError, match="'normal'.*\\[B, 3, H, W\\]"):
        m.update(torch.zeros(1, 2, 4, 4), target)
    with pytest.raises(ValueError, match="'normal'"):
        NormalsMetrics(resolution=0.0, task="normal")
    m.reset()
    m.update(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))  # nothing valid
    with pytest.raises(ValueError, match="'normal'.*before any valid"):
        m.compute()
