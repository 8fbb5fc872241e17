"""Multi-label classification metrics (``K`` independent binary labels per sample)."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.metrics.base import Metric, check_tensors, macro_f1
from multitask.metrics.classification import binary_counts, binary_targets


class MultilabelMetrics(Metric):
    """Label-wise accuracy, exact-match accuracy and macro F1 of a ``K``-label task.

    A label is predicted present when its logit is > 0. With per-label counts ``TP_k, FP_k, FN_k, TN_k``
    over ``n`` samples:

        accuracy        = Σ_k (TP_k + TN_k) / (n K)            (1 - Hamming loss; the CelebA "mean accuracy")
        subset_accuracy = (1/n) Σ_i 1[all K labels of i right]  (scikit-learn's ``accuracy_score``)
        f1_macro        = mean over labels of 2 TP_k / (2 TP_k + FP_k + FN_k)

    The macro mean runs over the labels that occur in the targets or the predictions (a label never
    present nor predicted has no defined F1 and is left out, as the classification metric does with
    absent classes); it is 0 when no label occurs at all.

    Args:
        num_labels: number of labels ``K``.
        task: task name for error messages.
    """

    _higher = {"accuracy": True, "subset_accuracy": True, "f1_macro": True}

    def __init__(self, num_labels: int, task: str = "task") -> None:
        if int(num_labels) < 1:
            raise ValueError(f"task {task!r}: multilabel needs num_labels >= 1, got {num_labels}")
        self.num_labels = int(num_labels)
        super().__init__(task)

    def _initial_state(self) -> dict[str, Tensor]:
        return {
            "counts": torch.zeros(4, self.num_labels, dtype=torch.int64),  # tp, fp, fn, tn per label
            "exact": torch.zeros((), dtype=torch.int64),
            "samples": torch.zeros((), dtype=torch.int64),
        }

    def _config(self) -> tuple[int]:
        return (self.num_labels,)

    def update(self, pred: Tensor, target: Tensor) -> None:
        check_tensors(self.task, pred, target)
        shape = (pred.shape[0], self.num_labels)
        for label, value in (("pred", pred), ("target", target)):
            if tuple(value.shape) != shape:
                raise ValueError(
                    f"task {self.task!r}: {label} must have shape [B, {self.num_labels}], "
                    f"got {tuple(value.shape)}"
                )
        if not pred.is_floating_point():
            raise TypeError(
                f"task {self.task!r}: multilabel predictions must be float logits, got {pred.dtype}"
            )
        with torch.no_grad():
            truth = binary_targets(self.task, target)
            guess = pred.detach() > 0
            self._add(
                counts=binary_counts(guess, truth, dim=0),
                exact=(guess == truth).all(dim=1).sum(),
                samples=torch.tensor(pred.shape[0]),
            )

    def compute(self) -> dict[str, float]:
        n = int(self._state["samples"])
        self._require_data(n)
        tp, fp, fn, tn = self._state["counts"].double()
        return {
            "accuracy": float((tp + tn).sum()) / (n * self.num_labels),
            "subset_accuracy": int(self._state["exact"]) / n,
            "f1_macro": macro_f1(tp, fp, fn),
        }
