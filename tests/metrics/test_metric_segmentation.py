"""Segmentation metrics: hand example, ignore index, resizing, scikit-learn, streaming."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix

from multitask.metrics import SegmentationMetrics


def _logits(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels.clamp_min(0), num_classes).permute(0, 3, 1, 2).float()


def test_segmentation_hand_example_with_ignore() -> None:
    target = torch.tensor([[[0, 0, 1], [1, 2, -1]]])
    pred = torch.tensor([[[0, 1, 1], [1, 1, 2]]])  # the ignored pixel's prediction must not count
    m = SegmentationMetrics(4, ignore_index=-1, task="seg")  # class 3 never occurs: left out of the mean
    m.update(_logits(pred, 4), target)
    out = m.compute()
    # confusion rows: true 0 -> [1, 1, 0], true 1 -> [0, 2, 0], true 2 -> [0, 1, 0]
    # IoU: 1 / (2 + 1 - 1) = 0.5, 2 / (2 + 4 - 2) = 0.5, 0 / 1 = 0  -> mIoU 1/3
    assert out["miou"] == pytest.approx(1 / 3)
    assert out["pixel_acc"] == pytest.approx(3 / 5)
    # the survey's all-classes mean: tp / max(tp + fp + fn, 1e-8) over all 4 classes (class 3 counts 0)
    assert out["miou_all"] == pytest.approx((0.5 + 0.5 + 0.0 + 0.0) / 4)
    assert list(m.higher_is_better) == ["miou", "pixel_acc", "miou_all"]
    assert m.main == "miou_all"  # the Vandenhende survey's main segmentation metric
    iou = m.iou_per_class()
    assert iou[:3].tolist() == pytest.approx([0.5, 0.5, 0.0]) and torch.isnan(iou[3])


def test_segmentation_custom_ignore_index_and_label_predictions() -> None:
    target = torch.tensor([[[255, 1], [0, 1]]])
    m = SegmentationMetrics(2, ignore_index=255, task="seg")
    m.update(torch.tensor([[[0, 1], [0, 0]]]), target)
    # valid pixels: (1 -> 1), (0 -> 0), (1 -> 0): IoU0 = 1/2, IoU1 = 1/2
    assert m.compute() == pytest.approx({"miou": 0.5, "pixel_acc": 2 / 3, "miou_all": 0.5})


def test_segmentation_resizes_low_resolution_logits() -> None:
    # a 1x1 logit map upsamples (bilinearly) to a constant map: every pixel predicts class 2
    target = torch.tensor([[[2, 2, 1, 2], [0, 2, 2, 2]]])
    logits = torch.tensor([0.0, 0.5, 3.0]).reshape(1, 3, 1, 1)
    m = SegmentationMetrics(3, task="seg")
    m.update(logits, target)
    assert m.compute()["pixel_acc"] == pytest.approx(6 / 8)
    # IoU0 = 0, IoU1 = 0, IoU2 = 6 / 8
    assert m.compute()["miou"] == pytest.approx((0 + 0 + 6 / 8) / 3)


def test_segmentation_matches_sklearn_and_streams() -> None:
    torch.manual_seed(0)
    c = 4
    logits = torch.randn(6, c, 5, 7)
    target = torch.randint(-1, c, (6, 5, 7))
    streamed, single = SegmentationMetrics(c, task="seg"), SegmentationMetrics(c, task="seg")
    for i in range(0, 6, 2):
        streamed.update(logits[i : i + 2], target[i : i + 2])
    single.update(logits, target)
    keep = target != -1
    cm = confusion_matrix(target[keep].numpy(), logits.argmax(1)[keep].numpy(), labels=range(c))
    np.testing.assert_array_equal(streamed.confusion_matrix.numpy(), cm)
    iou = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))
    expected = {"miou": iou.mean(), "pixel_acc": np.trace(cm) / cm.sum(), "miou_all": iou.mean()}
    assert streamed.compute() == pytest.approx(expected)
    assert streamed.compute() == single.compute()


def test_segmentation_errors() -> None:
    m = SegmentationMetrics(3, task="seg")
    with pytest.raises(ValueError, match="'seg'.*target class 5"):
        m.update(torch.zeros(1, 3, 2, 2), torch.tensor([[[0, 5], [1, 2]]]))
    with pytest.raises(ValueError, match="'seg'.*\\[B, H, W\\]"):
        m.update(torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="'seg'.*logits"):
        m.update(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long))
    m.update(torch.zeros(1, 3, 1, 1), torch.full((1, 1, 1), -1))  # everything ignored
    with pytest.raises(ValueError, match="'seg'"):
        m.compute()
