"""Regression metrics: MAE, RMSE, explained variance and normalised MSE."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.metrics.base import Metric, check_tensors, float_dtype


class RegressionMetrics(Metric):
    """MAE (main), RMSE, explained variance and nMSE of a ``D``-output regression task.

    With residuals ``e = y - ŷ`` over ``n`` samples and outputs ``d = 1..D``:

        mae                = (1 / nD) Σ |e|,        rmse = sqrt((1 / nD) Σ e²)
        explained_variance = mean_d [1 - Var(e_d) / Var(y_d)]     (scikit-learn's explained_variance_score)
        nmse               = mean_d [MSE_d / Var(y_d)] = mean_d [1 - R²_d]   (normalised MSE, as in the
                             multi-task regression literature on School/SARCOS)

    with population variances (divisor n). A constant target (``Var(y_d) = 0``) follows scikit-learn's
    ``force_finite`` rule: explained variance 1 (nMSE 0) for an exact fit, else 0 (nMSE 1).

    The means and variances stream with the pairwise update of Chan, Golub & LeVeque (1979), so they stay
    accurate when the targets have a large offset. Predictions and targets are ``[B, D]`` (or ``[B]``
    when ``D = 1``); a prediction with the same number of elements per sample is reshaped to the target.

    Args:
        num_outputs: number of outputs ``D``.
        task: task name for error messages.
    """

    _higher = {"mae": False, "rmse": False, "explained_variance": True, "nmse": False}

    def __init__(self, num_outputs: int = 1, task: str = "task") -> None:
        if int(num_outputs) < 1:
            raise ValueError(f"task {task!r}: regression needs num_outputs >= 1, got {num_outputs}")
        self.num_outputs = int(num_outputs)
        super().__init__(task)

    def _initial_state(self) -> dict[str, Tensor]:
        zeros = torch.zeros(self.num_outputs, dtype=torch.float64)
        return {
            "n": torch.zeros((), dtype=torch.float64),
            "abs": zeros.clone(),  # Σ |e| per output
            "sq": zeros.clone(),  # Σ e² per output
            "mean_y": zeros.clone(),
            "m2_y": zeros.clone(),  # Σ (y - mean_y)²
            "mean_e": zeros.clone(),
            "m2_e": zeros.clone(),
        }

    def _config(self) -> tuple[int]:
        return (self.num_outputs,)

    def update(self, pred: Tensor, target: Tensor) -> None:
        check_tensors(self.task, pred, target)
        d = self.num_outputs
        if not (tuple(target.shape) == (target.shape[0], d) or (d == 1 and target.dim() == 1)):
            raise ValueError(
                f"task {self.task!r}: target must have shape [B, {d}], got {tuple(target.shape)}"
            )
        if pred.numel() != target.numel():
            raise ValueError(
                f"task {self.task!r}: pred {tuple(pred.shape)} does not match target {tuple(target.shape)}"
            )
        if not pred.is_floating_point():
            raise TypeError(f"task {self.task!r}: regression predictions must be floating, got {pred.dtype}")
        with torch.no_grad():
            dtype = float_dtype(pred.device)
            y = target.detach().reshape(-1, d).to(dtype)
            e = y - pred.detach().reshape(-1, d).to(dtype)
            if not bool(torch.isfinite(y).all()):
                raise ValueError(f"task {self.task!r}: regression targets contain NaN or Inf")
            batch = {
                "n": torch.tensor(float(y.shape[0]), dtype=torch.float64),
                "abs": e.abs().sum(dim=0),
                "sq": (e * e).sum(dim=0),
                "mean_y": y.mean(dim=0),
                "m2_y": ((y - y.mean(dim=0)) ** 2).sum(dim=0),
                "mean_e": e.mean(dim=0),
                "m2_e": ((e - e.mean(dim=0)) ** 2).sum(dim=0),
            }
            self._combine({k: v.to(device="cpu", dtype=torch.float64) for k, v in batch.items()})

    def merge(self, other: Metric) -> None:
        self._check_mergeable(other)
        self._combine({k: v.clone() for k, v in other._state.items()})

    def _combine(self, b: dict[str, Tensor]) -> None:
        """Chan et al.'s pairwise combination of (count, mean, M2) plus plain sums."""
        a = self._state
        na, nb = a["n"], b["n"]
        n = na + nb
        if float(n) == 0:
            return
        for key in ("y", "e"):
            delta = b[f"mean_{key}"] - a[f"mean_{key}"]
            a[f"m2_{key}"] = a[f"m2_{key}"] + b[f"m2_{key}"] + delta * delta * (na * nb / n)
            a[f"mean_{key}"] = a[f"mean_{key}"] + delta * (nb / n)
        a["abs"] = a["abs"] + b["abs"]
        a["sq"] = a["sq"] + b["sq"]
        a["n"] = n

    def compute(self) -> dict[str, float]:
        s = self._state
        n = float(s["n"])
        self._require_data(n)
        count = n * self.num_outputs
        ev, nmse = [], []
        for d in range(self.num_outputs):
            var_y, var_e, mse = float(s["m2_y"][d]) / n, float(s["m2_e"][d]) / n, float(s["sq"][d]) / n
            if var_y > 0:
                ev.append(1.0 - var_e / var_y)
                nmse.append(mse / var_y)
            else:  # scikit-learn's force_finite convention for a constant target
                ev.append(1.0 if var_e == 0 else 0.0)
                nmse.append(0.0 if mse == 0 else 1.0)
        return {
            "mae": float(s["abs"].sum()) / count,
            "rmse": math.sqrt(float(s["sq"].sum()) / count),
            "explained_variance": sum(ev) / len(ev),
            "nmse": sum(nmse) / len(nmse),
        }
