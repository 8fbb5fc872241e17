"""Pareto utilities: non-dominated filtering and the exact hypervolume indicator.

Conventions: ``points`` is an ``[n, d]`` array of objective vectors, minimised by default; ``maximize``
(a bool, or one bool per objective) flips objectives that are maximised (accuracy, mIoU, ...). The
hypervolume is the Lebesgue measure of the region dominated by the points and bounded by the reference
point ``ref`` (Zitzler, Thiele. Multiobjective Optimization Using Evolutionary Algorithms — A Comparative
Case Study. PPSN 1998). Points that are not strictly better than ``ref`` in every objective add nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

_CHUNK = 1 << 22  # elements of the pairwise comparison handled at once


def _as_points(points: ArrayLike, maximize: bool | Sequence[bool], dims: int | None = None) -> np.ndarray:
    """``points`` as a float64 ``[n, d]`` array turned into a minimisation problem."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0 and dims is not None:
        arr = arr.reshape(0, dims)
    if arr.ndim != 2:
        raise ValueError(f"points must be a 2-D array [n, d], got shape {arr.shape}")
    if dims is not None and arr.shape[1] != dims:
        raise ValueError(f"points have {arr.shape[1]} objectives but the reference point has {dims}")
    if arr.shape[1] == 0:
        raise ValueError("points need at least one objective")
    if not np.all(np.isfinite(arr)):
        raise ValueError("points contain NaN or Inf")
    return arr * _signs(maximize, arr.shape[1])


def _signs(maximize: bool | Sequence[bool], d: int) -> np.ndarray:
    """+1 for minimised objectives, -1 for maximised ones."""
    flags = np.asarray(maximize, dtype=bool)
    if flags.ndim == 0:
        flags = np.full(d, bool(flags))
    elif flags.shape != (d,):
        raise ValueError(f"maximize must be a bool or {d} bools, got {flags.size}")
    return np.where(flags, -1.0, 1.0)


def non_dominated(points: ArrayLike, maximize: bool | Sequence[bool] = False) -> np.ndarray:
    """Boolean mask of the Pareto-optimal rows of ``points``.

    Row ``i`` is dominated when some row ``j`` is at least as good in every objective and strictly better
    in one; duplicates of an optimal point are all kept. ``O(n² d)`` comparisons, done in chunks.
    """
    pts = _as_points(points, maximize)
    n, d = pts.shape
    mask = np.ones(n, dtype=bool)
    step = max(1, _CHUNK // max(1, n * d))
    for start in range(0, n, step):
        block = pts[start : start + step, None, :]  # [b, 1, d] candidates, compared with all rows [n, d]
        weakly = np.all(pts[None, :, :] <= block, axis=2)
        strictly = np.any(pts[None, :, :] < block, axis=2)
        mask[start : start + step] = ~np.any(weakly & strictly, axis=1)
    return mask


def hypervolume_2d(points: ArrayLike, ref: ArrayLike, maximize: bool | Sequence[bool] = False) -> float:
    """Exact 2-D hypervolume by one sweep over the points sorted by the first objective (``O(n log n)``)."""
    ref_arr = _as_ref(ref, maximize)
    if ref_arr.shape != (2,):
        raise ValueError(f"hypervolume_2d needs a 2-D reference point, got {ref_arr.shape[0]} objectives")
    pts = _inside(_as_points(points, maximize, dims=2), ref_arr)
    return _hv2(pts, ref_arr)


def hypervolume(points: ArrayLike, ref: ArrayLike, maximize: bool | Sequence[bool] = False) -> float:
    """Exact hypervolume in any dimension by slicing along the last objective.

    The points are sorted by the last objective; between two consecutive values the dominated region's
    cross-section is the (d-1)-dimensional hypervolume of the points seen so far (While, Hingston,
    Barone, Huband. A Faster Algorithm for Calculating Hypervolume. IEEE TEC 2006, "HSO" slicing), down to
    the 2-D sweep. Dominated points are dropped first. Cost ``O(n^(d-1) log n)``: meant for the small
    fronts of multi-task experiments (tens to hundreds of points in up to about 5 objectives).
    """
    ref_arr = _as_ref(ref, maximize)
    pts = _inside(_as_points(points, maximize, dims=ref_arr.shape[0]), ref_arr)
    return _hv(pts, ref_arr)


def _as_ref(ref: ArrayLike, maximize: bool | Sequence[bool]) -> np.ndarray:
    arr = np.asarray(ref, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"the reference point must be a 1-D array of objectives, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("the reference point contains NaN or Inf")
    return arr * _signs(maximize, arr.shape[0])


def _inside(pts: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The points strictly better than ``ref`` in every objective (the others dominate no volume)."""
    return pts[np.all(pts < ref, axis=1)]


def _hv2(pts: np.ndarray, ref: np.ndarray) -> float:
    if len(pts) == 0:
        return 0.0
    order = np.lexsort((pts[:, 1], pts[:, 0]))  # by x, then y
    volume, best_y = 0.0, ref[1]
    for x, y in pts[order]:
        if y < best_y:  # a new step of the staircase: the strip [y, best_y) from x to ref_x
            volume += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(volume)


def _hv(pts: np.ndarray, ref: np.ndarray) -> float:
    n, d = pts.shape
    if n == 0:
        return 0.0
    if d == 1:
        return float(ref[0] - pts[:, 0].min())
    if d == 2:
        return _hv2(pts, ref)
    pts = pts[non_dominated(pts)]
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    volume = 0.0
    last = pts[:, -1]
    for i in range(len(pts)):
        upper = last[i + 1] if i + 1 < len(pts) else ref[-1]
        if upper > last[i]:
            volume += (upper - last[i]) * _hv(pts[: i + 1, :-1], ref[:-1])
    return float(volume)
