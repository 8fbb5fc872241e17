"""Single-label metrics: multi-class classification and binary classification."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.metrics.base import Metric, check_tensors, f1_from_counts, macro_f1
from multitask.metrics.confusion import ConfusionMetric, labels_from


class ClassificationMetrics(ConfusionMetric):
    """Accuracy and macro F1 of a ``C``-class classification task, from an accumulated confusion matrix.

    With ``N`` the confusion matrix (rows: true class, columns: predicted class) over all samples whose
    target is not ``ignore_index``:

        accuracy = Σ_c N_cc / Σ N
        F1_c     = 2 TP_c / (2 TP_c + FP_c + FN_c),   f1_macro = mean of F1_c over the classes that occur
                                                      in the targets or the predictions

    which is scikit-learn's ``accuracy_score`` and ``f1_score(average="macro")`` (whose default label set
    is the classes present in either). Predictions are logits ``[B, C]`` (argmax) or labels ``[B]``.

    Args:
        num_classes: number of classes ``C``.
        ignore_index: target value that is skipped (default -1).
        task: task name for error messages.
    """

    _kind = "classification"
    _higher = {"accuracy": True, "f1_macro": True}

    def update(self, pred: Tensor, target: Tensor) -> None:
        check_tensors(self.task, pred, target)
        if target.dim() != 1:
            raise ValueError(f"task {self.task!r}: target must have shape [B], got {tuple(target.shape)}")
        with torch.no_grad():
            labels = labels_from(self.task, pred.detach(), target, self.num_classes)
            self._add_batch(labels, target)

    def compute(self) -> dict[str, float]:
        cm = self._state["confusion"].double()
        total = float(cm.sum())
        self._require_data(total)
        tp = cm.diag()
        fp = cm.sum(dim=0) - tp
        fn = cm.sum(dim=1) - tp
        return {"accuracy": float(tp.sum()) / total, "f1_macro": macro_f1(tp, fp, fn)}


class BinaryMetrics(Metric):
    """Accuracy and F1 (of the positive class) of a binary task predicted by one logit.

    A sample is predicted positive when its logit is > 0 (probability > 0.5). With the accumulated counts

        accuracy = (TP + TN) / (TP + TN + FP + FN),   F1 = 2 TP / (2 TP + FP + FN)  (0 when undefined)

    i.e. scikit-learn's ``accuracy_score`` and ``f1_score(zero_division=0)``. Predictions ``[B]`` or
    ``[B, 1]`` logits; targets ``[B]`` or ``[B, 1]`` with values in {0, 1}.

    Args:
        task: task name for error messages.
    """

    _higher = {"accuracy": True, "f1": True}

    def _initial_state(self) -> dict[str, Tensor]:
        return {"counts": torch.zeros(4, dtype=torch.int64)}  # tp, fp, fn, tn

    def update(self, pred: Tensor, target: Tensor) -> None:
        check_tensors(self.task, pred, target)
        for label, value in (("pred", pred), ("target", target)):
            if not (value.dim() == 1 or (value.dim() == 2 and value.shape[1] == 1)):
                raise ValueError(
                    f"task {self.task!r}: {label} must have shape [B] or [B, 1], got {tuple(value.shape)}"
                )
        if not pred.is_floating_point():
            raise TypeError(f"task {self.task!r}: binary predictions must be float logits, got {pred.dtype}")
        with torch.no_grad():
            truth = binary_targets(self.task, target.reshape(-1))
            guess = pred.detach().reshape(-1) > 0
            self._add(counts=binary_counts(guess, truth))

    def compute(self) -> dict[str, float]:
        tp, fp, fn, tn = (float(v) for v in self._state["counts"])
        total = tp + fp + fn + tn
        self._require_data(total)
        return {"accuracy": (tp + tn) / total, "f1": f1_from_counts(tp, fp, fn)}


def binary_targets(task: str, target: Tensor) -> Tensor:
    """Targets in {0, 1} (any dtype) as a bool tensor; other values raise a ``ValueError``."""
    bad = (target != 0) & (target != 1)
    if bool(bad.any()):
        raise ValueError(f"task {task!r}: binary targets must be 0 or 1, found {target[bad][0].item()!r}")
    return target == 1


def binary_counts(guess: Tensor, truth: Tensor, dim: int | None = None) -> Tensor:
    """Stack of (TP, FP, FN, TN) counts, summed over ``dim`` (all elements when None)."""
    parts = (guess & truth, guess & ~truth, ~guess & truth, ~guess & ~truth)
    if dim is None:
        return torch.stack([p.sum() for p in parts])
    return torch.stack([p.sum(dim=dim) for p in parts])
