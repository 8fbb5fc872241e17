"""Depth estimation metrics over valid pixels."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.metrics.base import Metric, check_dense, float_dtype


class DepthMetrics(Metric):
    """Absolute error, relative error, RMSE (main) and δ < 1.25 accuracy over valid pixels.

    Eigen, Puhrsch, Fergus. Depth Map Prediction from a Single Image using a Multi-Scale Deep Network.
    NeurIPS 2014 (the error measures); abs/rel error as reported by MTAN (Liu, Johns, Davison, CVPR 2019).

    Over the set ``V`` of valid pixels of the whole data set (target depth ``d ≠ 0``; 0 marks a missing
    measurement), with prediction ``p``:

        abs_err = (1/|V|) Σ |p - d|,          rel_err = (1/|V|) Σ |p - d| / d
        rmse    = sqrt((1/|V|) Σ (p - d)²),   delta1  = (1/|V|) Σ 1[max(p/d, d/p) < 1.25]

    A pixel whose prediction is not positive never counts as within δ. Negative target depths raise a
    ``ValueError``. Predictions ``[B, 1, h, w]`` are bilinearly resized to the target's ``[B, 1, H, W]``
    when the sizes differ. The sums run over all pixels of the data set (MTAN's code averages per batch
    instead, which weights batches with few valid pixels more).

    Δm: the main metric is ``rmse``, as in the Vandenhende survey's code (``calculate_multi_task_performance``
    compares depth by RMSE); the Nash-MTL and LibMTL conventions count ``abs_err`` and ``rel_err``, the
    two depth metrics of their NYUv2/Cityscapes tables (``rmse`` and ``delta1`` are reported, not counted).

    Args:
        task: task name for error messages.
    """

    _higher = {"abs_err": False, "rel_err": False, "rmse": False, "delta1": True}
    _main = "rmse"
    _convention_metrics = {"nashmtl": ("abs_err", "rel_err"), "libmtl": ("abs_err", "rel_err")}

    def _initial_state(self) -> dict[str, Tensor]:
        return {"sums": torch.zeros(4, dtype=torch.float64), "count": torch.zeros((), dtype=torch.int64)}

    def update(self, pred: Tensor, target: Tensor) -> None:
        pred = check_dense(self.task, pred, target, channels=1)
        with torch.no_grad():
            dtype = float_dtype(pred.device)
            d = target.detach().to(dtype)
            p = pred.detach().to(dtype)
            if bool((d < 0).any()):
                raise ValueError(
                    f"task {self.task!r}: depth targets must be >= 0 (0 = invalid), found negatives"
                )
            valid = d != 0
            d, p = d[valid], p[valid]
            err = (p - d).abs()
            ratio = torch.maximum(p / d, d / p)
            within = (p > 0) & (ratio < 1.25)
            sums = torch.stack([err.sum(), (err / d).sum(), (err * err).sum(), within.sum().to(dtype)])
            self._add(sums=sums, count=valid.sum())

    def compute(self) -> dict[str, float]:
        n = int(self._state["count"])
        self._require_data(n)
        abs_sum, rel_sum, sq_sum, within = (float(v) for v in self._state["sums"])
        return {
            "abs_err": abs_sum / n,
            "rel_err": rel_sum / n,
            "rmse": math.sqrt(sq_sum / n),
            "delta1": within / n,
        }
