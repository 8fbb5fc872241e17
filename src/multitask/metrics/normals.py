"""Surface-normal metrics: angular error statistics over valid pixels."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from multitask.metrics.base import Metric, check_dense, float_dtype

THRESHOLDS = (11.25, 22.5, 30.0)


class NormalsMetrics(Metric):
    """Mean (main) and median angular error and the fractions within 11.25°, 22.5° and 30°.

    Eigen, Fergus. Predicting Depth, Surface Normals and Semantic Labels with a Common Multi-Scale
    Convolutional Architecture. ICCV 2015 (the measures); as reported by MTAN (Liu et al., CVPR 2019).

    Prediction and target are both normalised to unit length per pixel; over the valid pixels ``V`` of
    the data set (target not all-zero) the angle is ``θ = arccos(clamp(n̂ᵀn, -1, 1))`` in degrees and

        mean_angle = (1/|V|) Σ θ,     median_angle = median θ,
        within_t   = (1/|V|) Σ 1[θ < t],   t ∈ {11.25, 22.5, 30}

    The within-fractions are in [0, 1]. Mean and fractions are exact; the median comes from a histogram
    of the angles with bins ``resolution`` degrees wide (interpolated inside the bin), so it is within
    ``resolution`` of the exact median without storing every pixel's angle. Predictions are bilinearly
    resized to the target's size when they differ. Angles are computed in float64.

    Args:
        resolution: histogram bin width in degrees for the median (default 0.01).
        task: task name for error messages.
    """

    _higher = {
        "mean_angle": False,
        "median_angle": False,
        "within_11.25": True,
        "within_22.5": True,
        "within_30": True,
    }

    def __init__(self, resolution: float = 0.01, task: str = "task") -> None:
        if not 0 < float(resolution) <= 1.0:
            raise ValueError(
                f"task {task!r}: normals histogram resolution must be in (0, 1] degrees, got {resolution}"
            )
        self.resolution = float(resolution)
        self.num_bins = int(math.ceil(180.0 / self.resolution))
        super().__init__(task)

    def _initial_state(self) -> dict[str, Tensor]:
        return {
            "angle_sum": torch.zeros((), dtype=torch.float64),
            "within": torch.zeros(len(THRESHOLDS), dtype=torch.int64),
            "hist": torch.zeros(self.num_bins, dtype=torch.int64),
        }

    def _config(self) -> tuple[float]:
        return (self.resolution,)

    def update(self, pred: Tensor, target: Tensor) -> None:
        pred = check_dense(self.task, pred, target, channels=3)
        with torch.no_grad():
            dtype = float_dtype(pred.device)
            t = target.detach().to(dtype)
            valid = (t != 0).any(dim=1)  # [B, H, W]
            cos = (F.normalize(pred.detach().to(dtype), dim=1) * F.normalize(t, dim=1)).sum(dim=1)[valid]
            angle = torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))
            bins = (angle / self.resolution).long().clamp(0, self.num_bins - 1)
            self._add(
                angle_sum=angle.sum(),
                within=torch.stack([(angle < th).sum() for th in THRESHOLDS]),
                hist=torch.bincount(bins, minlength=self.num_bins),
            )

    def median(self) -> float:
        """Median angle from the histogram (within ``resolution`` degrees of the exact median)."""
        hist = self._state["hist"]
        n = int(hist.sum())
        self._require_data(n)
        cum = torch.cumsum(hist, dim=0)
        ranks = ((n - 1) // 2, n // 2)  # 0-based order statistics averaged by the median
        values = []
        for r in ranks:
            k = int(torch.searchsorted(cum, torch.tensor(r, dtype=cum.dtype), right=True))
            before = int(cum[k - 1]) if k > 0 else 0
            frac = (r - before + 0.5) / int(hist[k])  # spread the bin's values evenly across it
            values.append((k + frac) * self.resolution)
        return min(sum(values) / 2.0, 180.0)

    def compute(self) -> dict[str, float]:
        n = int(self._state["hist"].sum())
        self._require_data(n)
        within = [float(c) / n for c in self._state["within"]]
        return {
            "mean_angle": float(self._state["angle_sum"]) / n,
            "median_angle": self.median(),
            "within_11.25": within[0],
            "within_22.5": within[1],
            "within_30": within[2],
        }
