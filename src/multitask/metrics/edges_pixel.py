"""Pixel-exact edge metrics: ODS F-measure and precision/recall/F at a fixed threshold, no tolerance."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.metrics.base import Metric, check_dense, f1_from_counts, float_dtype, ratio


class PixelEdgeMetrics(Metric):
    """Pixel-exact ODS F (main), and F1 / precision / recall at a fixed threshold, counted per pixel.

    Martin, Fowlkes, Malik. Learning to Detect Natural Image Boundaries Using Local Brightness, Color, and
    Texture Cues. TPAMI 2004 (precision/recall/F of boundaries; ODS = best F at one threshold for the
    whole data set), here without the benchmark's thinning and distance tolerance: a fast, pixel-exact
    variant. The benchmark's measure (what Vandenhende et al., TPAMI 2021, report) is
    :class:`~multitask.metrics.edges.EdgeMetrics`, the default for ``edges`` tasks; an edge predicted one
    pixel off counts as a miss and a false alarm here but as a hit there.

    The prediction is a logit map ``[B, 1, h, w]``; ``q = sigmoid(logit)`` is the edge probability and a
    pixel is predicted an edge at threshold ``τ`` when ``q > τ``. Targets are ``[B, 1, H, W]`` in [0, 1]
    (edge where ``≥ 0.5``). With TP/FP/FN counted over all pixels of the data set:

        precision = TP / (TP + FP),   recall = TP / (TP + FN),   F = 2PR / (P + R)     (0 when undefined)
        ods_f     = max over τ ∈ {1/(K+1), ..., K/(K+1)} of F(τ)                     (K = num_thresholds)

    ``f1``, ``precision`` and ``recall`` use the fixed ``threshold``. The main metric is ``ods_f`` because
    it does not depend on a calibration choice and is what the dense multi-task literature reports;
    ``best_threshold()`` gives the τ that attains it. The counts at every τ come from two per-data-set
    histograms of ``q`` (edge and non-edge pixels), so ODS needs no second pass. A predicted edge pixel
    matches a true edge only at the same pixel. Predictions are bilinearly resized to the target size
    when the sizes differ.

    Args:
        threshold: probability threshold of ``f1``/``precision``/``recall`` (default 0.5).
        num_thresholds: number ``K`` of evenly spaced thresholds for ODS (default 99, as the BSDS code).
        task: task name for error messages.
    """

    _higher = {"ods_f": True, "f1": True, "precision": True, "recall": True}

    def __init__(self, threshold: float = 0.5, num_thresholds: int = 99, task: str = "task") -> None:
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"task {task!r}: edge threshold must be in (0, 1), got {threshold}")
        if int(num_thresholds) < 1:
            raise ValueError(f"task {task!r}: num_thresholds must be >= 1, got {num_thresholds}")
        self.threshold = float(threshold)
        self.num_thresholds = int(num_thresholds)
        k = self.num_thresholds
        self.thresholds = torch.arange(1, k + 1, dtype=torch.float64) / (k + 1)
        super().__init__(task)

    def _initial_state(self) -> dict[str, Tensor]:
        bins = self.num_thresholds + 1
        return {
            "hist_pos": torch.zeros(bins, dtype=torch.int64),  # edge pixels by number of thresholds below q
            "hist_neg": torch.zeros(bins, dtype=torch.int64),
            "fixed": torch.zeros(3, dtype=torch.int64),  # tp, fp, fn at `threshold`
        }

    def _config(self) -> tuple[float, int]:
        return (self.threshold, self.num_thresholds)

    def update(self, pred: Tensor, target: Tensor) -> None:
        pred = check_dense(self.task, pred, target, channels=1)
        with torch.no_grad():
            dtype = float_dtype(pred.device)
            t = target.detach()
            if bool(((t < 0) | (t > 1)).any()):
                raise ValueError(f"task {self.task!r}: edge targets must lie in [0, 1]")
            truth = (t >= 0.5).reshape(-1)
            q = torch.sigmoid(pred.detach().to(dtype)).reshape(-1)
            # index = number of thresholds strictly below q: q > τ_k  <=>  index > k
            idx = torch.searchsorted(self.thresholds.to(device=q.device, dtype=dtype), q, right=False)
            bins = self.num_thresholds + 1
            guess = q > self.threshold
            self._add(
                hist_pos=torch.bincount(idx[truth], minlength=bins),
                hist_neg=torch.bincount(idx[~truth], minlength=bins),
                fixed=torch.stack([(guess & truth).sum(), (guess & ~truth).sum(), (~guess & truth).sum()]),
            )

    def curve(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Thresholds and the data set's precision, recall and F at each (all ``[K]`` float64 tensors)."""
        pos, neg = self._state["hist_pos"], self._state["hist_neg"]
        # predicted edges at τ_k are the pixels with index >= k + 1: reverse cumulative sums
        tp = torch.flip(torch.cumsum(torch.flip(pos, [0]), 0), [0])[1:].double()
        fp = torch.flip(torch.cumsum(torch.flip(neg, [0]), 0), [0])[1:].double()
        fn = float(pos.sum()) - tp
        precision = torch.where(tp + fp > 0, tp / (tp + fp).clamp_min(1), torch.zeros_like(tp))
        recall = torch.where(tp + fn > 0, tp / (tp + fn).clamp_min(1), torch.zeros_like(tp))
        denom = 2 * tp + fp + fn
        f = torch.where(denom > 0, 2 * tp / denom.clamp_min(1), torch.zeros_like(tp))
        return self.thresholds.clone(), precision, recall, f

    def best_threshold(self) -> float:
        """The threshold ``τ`` at which the ODS F is attained (the smallest one on ties)."""
        self._require_data(int(self._state["hist_pos"].sum() + self._state["hist_neg"].sum()))
        thresholds, _, _, f = self.curve()
        return float(thresholds[int(torch.argmax(f))])

    def compute(self) -> dict[str, float]:
        self._require_data(int(self._state["hist_pos"].sum() + self._state["hist_neg"].sum()))
        tp, fp, fn = (float(v) for v in self._state["fixed"])
        _, _, _, f = self.curve()
        return {
            "ods_f": float(f.max()),
            "f1": f1_from_counts(tp, fp, fn),
            "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn),
        }
