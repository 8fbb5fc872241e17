"""Semantic segmentation metrics: mean IoU and pixel accuracy."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.metrics.base import check_tensors, resize_like
from multitask.metrics.confusion import ConfusionMetric, labels_from


class SegmentationMetrics(ConfusionMetric):
    """Mean intersection-over-union, pixel accuracy and the all-classes mIoU from one confusion matrix.

    Everingham, Van Gool, Williams, Winn, Zisserman. The PASCAL Visual Object Classes (VOC) Challenge.
    IJCV 2010 (the IoU / "Jaccard" segmentation measure).

    With ``N`` the confusion matrix over all pixels of the data set whose label is not ``ignore_index``
    (rows: true class, columns: predicted class):

        IoU_c     = N_cc / (Σ_j N_cj + Σ_i N_ic - N_cc),   miou = mean of IoU_c over the classes with a
                                                          non-empty union (present in labels or predictions)
        pixel_acc = Σ_c N_cc / Σ N
        miou_all  = (1/C) Σ_c N_cc / max(Σ_j N_cj + Σ_i N_ic - N_cc, ε)   (a class never labelled nor
                                                          predicted counts as IoU 0)

    ``miou`` is LibMTL's/MTAN's mean (NaN classes left out); ``miou_all`` is the mean over all ``C``
    classes of the Vandenhende survey's evaluation code (``eval_semseg``: ``tp / max(tp + fp + fn, 1e-8)``
    averaged over every class). They agree whenever every class is labelled or predicted somewhere.
    Δm: the survey's main metric is ``miou_all`` (also for human parts, a segmentation task there);
    Nash-MTL and LibMTL count ``miou`` and ``pixel_acc``. The survey's *saliency* "mIoU" is another
    measure (the best over thresholds 0.2..0.9 of the per-image foreground IoU averaged over images),
    which this class does not compute.

    This is the data-set-level mIoU (one confusion matrix for all images, as in LibMTL), not a mean of
    per-batch mIoUs. Predictions are logits ``[B, C, h, w]`` (bilinearly resized to the label size when
    ``(h, w)`` differs, then argmax) or labels ``[B, H, W]``; targets are ``[B, H, W]`` integers.

    Args:
        num_classes: number of classes ``C``.
        ignore_index: label value that is skipped (default -1).
        task: task name for error messages.
    """

    _kind = "segmentation"
    _higher = {"miou": True, "pixel_acc": True, "miou_all": True}
    _main = "miou_all"
    _convention_metrics = {"nashmtl": ("miou", "pixel_acc"), "libmtl": ("miou", "pixel_acc")}

    def iou_per_class(self) -> Tensor:
        """IoU of each class (NaN where the class is neither labelled nor predicted)."""
        cm = self._state["confusion"].double()
        tp = cm.diag()
        union = cm.sum(dim=0) + cm.sum(dim=1) - tp
        return torch.where(union > 0, tp / union.clamp_min(1.0), torch.full_like(tp, float("nan")))

    def update(self, pred: Tensor, target: Tensor) -> None:
        check_tensors(self.task, pred, target)
        if target.dim() != 3:
            raise ValueError(
                f"task {self.task!r}: target must have shape [B, H, W], got {tuple(target.shape)}"
            )
        with torch.no_grad():
            pred = pred.detach()
            if pred.is_floating_point():
                if pred.dim() != 4:
                    raise ValueError(
                        f"task {self.task!r}: logits must have shape [B, {self.num_classes}, H, W], "
                        f"got {tuple(pred.shape)}"
                    )
                pred = resize_like(pred, target)
            labels = labels_from(self.task, pred, target, self.num_classes)
            self._add_batch(labels, target)

    def compute(self) -> dict[str, float]:
        cm = self._state["confusion"].double()
        total = float(cm.sum())
        self._require_data(total)
        iou = self.iou_per_class()
        return {
            "miou": float(iou[~iou.isnan()].mean()),
            "pixel_acc": float(cm.diag().sum()) / total,
            "miou_all": float(iou.nan_to_num(0.0).mean()),
        }
