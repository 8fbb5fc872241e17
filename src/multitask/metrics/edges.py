"""Edge / boundary detection metrics as the BSDS benchmark and seism score them (thinned, tolerant)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from multitask.metrics._boundary import disk_offsets, match_count, near_mask, thin
from multitask.metrics.base import Metric, check_dense, f1_from_counts, ratio

#: pixels of thresholded maps (images x thresholds x H x W) thinned in one stack
_CHUNK_PIXELS = 1 << 24


class EdgeMetrics(Metric):
    """ODS F (main), and F1 / precision / recall at a fixed threshold, with boundary matching.

    Martin, Fowlkes, Malik. Learning to Detect Natural Image Boundaries Using Local Brightness, Color, and
    Texture Cues. TPAMI 2004 (boundary precision/recall with a distance tolerance; ODS = best F at one
    threshold for the whole data set); Pont-Tuset, Marques. Supervised Evaluation of Image Segmentation
    and Object Proposal Techniques. TPAMI 2016 (seism, the code the Vandenhende et al. survey, TPAMI
    2021, scores edges with: 99 thresholds 0.01..0.99, ``maxDist = 0.0075``).

    The prediction is a logit map ``[B, 1, h, w]`` (bilinearly resized to the target's size), ``q =
    sigmoid(logit)``; targets are ``[B, 1, H, W]`` in [0, 1] with true boundary pixels where ``≥ 0.5``.
    For each image and threshold ``τ``:

    1. the predicted map is ``q ≥ τ``, thinned to one-pixel-wide curves (:func:`~._boundary.thin`, the
       ``bwmorph(·, 'thin', Inf)`` of the benchmark; ``thin=False`` skips it);
    2. predicted and true boundary pixels at most ``r = max_dist · sqrt(H² + W²)`` apart are matched
       one-to-one, as many as possible (the benchmark's ``correspondPixels``); ``m`` = matched pairs.

    Summing over the data set ``M(τ) = Σ m``, ``P(τ) = Σ |predicted|`` and ``G = Σ |true|``:

        precision = M / P,   recall = M / G,   F = 2 M / (P + G)                       (0 when undefined)
        ods_f     = max over τ ∈ {1/(K+1), ..., K/(K+1)} of F(τ)                     (K = num_thresholds)

    ``f1``, ``precision`` and ``recall`` use the fixed ``threshold``. A boundary drawn one pixel off, or
    thicker than the truth, still scores 1 when ``r ≥ 1`` (images with a diagonal of at least 134 pixels
    at the default ``max_dist``); below one pixel of tolerance only coincident pixels match. The true
    maps are used as given (not thinned), as in the benchmark (whose true boundaries are one pixel
    wide); with thicker true boundaries (e.g. the two-pixel ones of the synthetic ``shapes`` scenes) a
    thinned prediction can match at most about one pixel per boundary width, so pass
    ``thin_truth=True`` there. Differences from seism: ODS is the
    maximum over the thresholds without seism's interpolation between them, and the matching maximises
    the number of pairs exactly instead of by seism's approximate min-cost assignment. The counts are
    found per image on the CPU (numpy/scipy), once per distinct thresholded map. The pixel-exact
    variant (no thinning, no tolerance) is :class:`~multitask.metrics.edges_pixel.PixelEdgeMetrics`.

    Args:
        threshold: probability threshold of ``f1``/``precision``/``recall`` (default 0.5).
        num_thresholds: number ``K`` of evenly spaced thresholds for ODS (default 99, as seism and BSDS).
        max_dist: matching tolerance as a fraction of the image diagonal (default 0.0075, as seism/BSDS).
        thin: thin each thresholded prediction before matching (default True, as seism/BSDS).
        thin_truth: thin the true boundary maps too (default False, as seism/BSDS).
        task: task name for error messages.
    """

    _higher = {"ods_f": True, "f1": True, "precision": True, "recall": True}

    def __init__(
        self,
        threshold: float = 0.5,
        num_thresholds: int = 99,
        max_dist: float = 0.0075,
        thin: bool = True,
        thin_truth: bool = False,
        task: str = "task",
    ) -> None:
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"task {task!r}: edge threshold must be in (0, 1), got {threshold}")
        if int(num_thresholds) < 1:
            raise ValueError(f"task {task!r}: num_thresholds must be >= 1, got {num_thresholds}")
        if not 0.0 <= float(max_dist) < 1.0 or not math.isfinite(float(max_dist)):
            raise ValueError(
                f"task {task!r}: max_dist must be a fraction of the diagonal in [0, 1), got {max_dist}"
            )
        self.threshold = float(threshold)
        self.num_thresholds = int(num_thresholds)
        self.max_dist = float(max_dist)
        self.thin = bool(thin)
        self.thin_truth = bool(thin_truth)
        k = self.num_thresholds
        self.thresholds = torch.arange(1, k + 1, dtype=torch.float64) / (k + 1)
        super().__init__(task)

    def _initial_state(self) -> dict[str, Tensor]:
        rows = self.num_thresholds + 1  # the K thresholds of ODS, then the fixed one
        return {
            "matched": torch.zeros(rows, dtype=torch.int64),
            "predicted": torch.zeros(rows, dtype=torch.int64),
            "truth": torch.zeros((), dtype=torch.int64),
            "images": torch.zeros((), dtype=torch.int64),
        }

    def _config(self) -> tuple[float, int, float, bool, bool]:
        return (self.threshold, self.num_thresholds, self.max_dist, self.thin, self.thin_truth)

    def update(self, pred: Tensor, target: Tensor) -> None:
        pred = check_dense(self.task, pred, target, channels=1)
        with torch.no_grad():
            t = target.detach()
            if bool(((t < 0) | (t > 1)).any()):
                raise ValueError(f"task {self.task!r}: edge targets must lie in [0, 1]")
            truth = (t[:, 0] >= 0.5).cpu().numpy()
            q = torch.sigmoid(pred.detach()[:, 0].cpu().double()).numpy()  # CPU first: MPS has no float64
        if self.thin_truth:
            truth = thin(truth)
        taus = np.append(self.thresholds.numpy(), self.threshold)
        h, w = truth.shape[-2:]
        offsets = disk_offsets(self.max_dist * math.hypot(h, w))
        matched = np.zeros(len(taus), dtype=np.int64)
        predicted = np.zeros(len(taus), dtype=np.int64)
        chunk = max(1, _CHUNK_PIXELS // (len(taus) * h * w))  # images whose maps are thinned together
        for start in range(0, len(q), chunk):
            m, p = self._counts(q[start : start + chunk], truth[start : start + chunk], taus, offsets)
            matched += m
            predicted += p
        self._add(
            matched=torch.from_numpy(matched),
            predicted=torch.from_numpy(predicted),
            truth=torch.tensor(int(truth.sum())),
            images=torch.tensor(len(q)),
        )

    def _counts(
        self, q: np.ndarray, truth: np.ndarray, taus: np.ndarray, offsets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Matched and predicted pixel counts summed over images ``q`` ``[b, H, W]`` at each ``τ``."""
        # thresholds that give the same map give the same counts: thin and match each distinct map once
        distinct, owner, where = [], [], []
        for i, qi in enumerate(q):
            maps = qi[None] >= taus[:, None, None]  # [n, H, W]
            packed = np.packbits(maps.reshape(len(taus), -1), axis=1)
            _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
            where.append(inverse.reshape(-1) + sum(len(d) for d in distinct))
            distinct.append(maps[first])
            owner.append(np.full(len(first), i))
        maps, owners = np.concatenate(distinct), np.concatenate(owner)
        if self.thin:
            maps = thin(maps)
        if len(offsets) == 1:  # tolerance below one pixel: only coincident pixels match
            m = (maps & truth[owners]).reshape(len(maps), -1).sum(axis=1)
        else:
            near = [near_mask(t, offsets) for t in truth]
            m = np.array([match_count(d, truth[o], offsets, near[o]) for d, o in zip(maps, owners)])
        p = maps.reshape(len(maps), -1).sum(axis=1)
        index = np.stack(where)  # [b, len(taus)] rows of `maps`
        return m[index].sum(axis=0).astype(np.int64), p[index].sum(axis=0).astype(np.int64)

    def curve(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Thresholds and the data set's precision, recall and F at each (all ``[K]`` float64 tensors)."""
        k = self.num_thresholds
        m = self._state["matched"][:k].double()
        p = self._state["predicted"][:k].double()
        g = float(self._state["truth"])
        precision = torch.where(p > 0, m / p.clamp_min(1), torch.zeros_like(m))
        recall = m / g if g > 0 else torch.zeros_like(m)
        denom = p + g
        f = torch.where(denom > 0, 2 * m / denom.clamp_min(1), torch.zeros_like(m))
        return self.thresholds.clone(), precision, recall, f

    def best_threshold(self) -> float:
        """The threshold ``τ`` at which the ODS F is attained (the smallest one on ties)."""
        self._require_data(int(self._state["images"]))
        thresholds, _, _, f = self.curve()
        return float(thresholds[int(torch.argmax(f))])

    def compute(self) -> dict[str, float]:
        self._require_data(int(self._state["images"]))
        m, p = float(self._state["matched"][-1]), float(self._state["predicted"][-1])
        g = float(self._state["truth"])
        _, _, _, f = self.curve()
        return {
            "ods_f": float(f.max()),
            "f1": f1_from_counts(m, p - m, g - m),
            "precision": ratio(m, p),
            "recall": ratio(m, g),
        }
