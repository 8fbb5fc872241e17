"""Boundary-map helpers of the tolerance-based edge metric: morphological thinning and pixel matching.

``thin`` (:mod:`multitask.core.thinning`, re-exported here) thins boundary maps as BSDS/seism do.

``match_count`` is the size of a maximum one-to-one matching between predicted and true boundary pixels
that are at most ``radius`` apart (Euclidean), as the BSDS ``correspondPixels`` computes it (that code
solves a min-cost assignment whose outlier cost makes it maximise the number of matches; only that
number enters precision and recall). Found by a nearest-first greedy start completed with augmenting
paths (exact; see :func:`_maximum_matching`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from multitask.core.thinning import thin

__all__ = ["disk_offsets", "match_count", "near_mask", "thin"]


def disk_offsets(radius: float) -> np.ndarray:
    """``[n, 2]`` integer offsets ``(di, dj)`` with ``di² + dj² ≤ radius²`` (``(0, 0)`` first)."""
    r = int(math.floor(radius))
    di, dj = np.mgrid[-r : r + 1, -r : r + 1]
    keep = di**2 + dj**2 <= radius**2 + 1e-9
    off = np.stack([di[keep], dj[keep]], axis=1)
    order = np.argsort((off**2).sum(1), kind="stable")
    return off[order]


def near_mask(truth: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Pixels that have a true pixel at one of ``offsets`` (the truth dilated by the tolerance disk)."""
    h, w = truth.shape
    r = int(np.abs(offsets).max()) if len(offsets) else 0
    padded = np.pad(truth, r)
    near = np.zeros_like(truth)
    for di, dj in offsets:
        near |= padded[r + di : r + di + h, r + dj : r + dj + w]
    return near


def match_count(
    pred: np.ndarray, truth: np.ndarray, offsets: np.ndarray, near: np.ndarray | None = None
) -> int:
    """Maximum number of one-to-one pairs (predicted pixel, true pixel) whose offset is in ``offsets``.

    ``near`` (optional, from :func:`near_mask`) marks the pixels within the tolerance of a true pixel.
    """
    if len(offsets) == 1:  # tolerance below one pixel: only coincident pixels match
        return int(np.count_nonzero(pred & truth))
    if near is not None:
        pred = pred & near  # predicted pixels farther than the tolerance from every true pixel never match
    pi, pj = np.nonzero(pred)
    if pi.size == 0 or not truth.any():
        return 0
    h, w = truth.shape
    ids = np.full(truth.shape, -1, dtype=np.int64)
    n_true = int(np.count_nonzero(truth))
    ids[truth] = np.arange(n_true)
    ii = pi[:, None] + offsets[None, :, 0]
    jj = pj[:, None] + offsets[None, :, 1]
    inside = (ii >= 0) & (ii < h) & (jj >= 0) & (jj < w)
    target = np.where(inside, ids[ii.clip(0, h - 1), jj.clip(0, w - 1)], -1)
    return _maximum_matching(target)


def _maximum_matching(target: np.ndarray) -> int:
    """Size of a maximum matching; ``target[p, k]`` = true pixel at the ``k``-th nearest offset of
    predicted pixel ``p`` (-1: none).

    First every offset, nearest first, matches the pairs whose two pixels are both still free (within
    one offset the pairs are disjoint); then augmenting paths (Kuhn's algorithm, phases of depth-first
    searches from the free predicted pixels that share their visited marks, repeated until a phase
    finds none) make the matching maximum, searched only from the components of the pixel graph that
    the greedy start left unsaturated (:func:`_open_roots`). scipy's ``maximum_bipartite_matching`` is
    not used: its Hopcroft–Karp search takes exponential time on ladder-like graphs such as two nearby
    parallel boundaries (scipy issue 26147).
    """
    n_pred = target.shape[0]
    n_true = int(target.max()) + 1 if target.size else 0
    if n_true == 0:
        return 0
    match_p = np.full(n_pred, -1, dtype=np.int64)  # predicted -> true
    match_t = np.full(n_true, -1, dtype=np.int64)  # true -> predicted
    for k in range(target.shape[1]):
        g = target[:, k]
        free = (g >= 0) & (match_p < 0)
        free[free] = match_t[g[free]] < 0
        p = np.flatnonzero(free)
        match_p[p] = g[p]
        match_t[g[p]] = p
    roots = _open_roots(target, match_p, n_true)
    if not roots:
        return int(np.count_nonzero(match_p >= 0))
    adjacency = [row[row >= 0].tolist() for row in target]
    mp, mt = match_p.tolist(), match_t.tolist()
    while True:
        visited = [False] * n_true
        found = 0
        for root in roots:
            if mp[root] >= 0:
                continue
            if _augment(root, adjacency, mp, mt, visited):
                found += 1
        if not found:
            break
    return sum(1 for g in mp if g >= 0)


def _open_roots(target: np.ndarray, match_p: np.ndarray, n_true: int) -> list[int]:
    """The free predicted pixels from which an augmenting path may exist: those in a connected component
    of the pixel graph whose matching has fewer pairs than the component's smaller side (an augmenting
    path never leaves its component, and a component matched that far cannot grow). On boundary maps
    most components (one boundary stretch each) are saturated by the greedy start."""
    n_pred = target.shape[0]
    rows, ks = np.nonzero(target >= 0)
    cols = target[rows, ks]
    graph = coo_matrix((np.ones(rows.size, dtype=np.int8), (rows, n_pred + cols)),
                       shape=(n_pred + n_true, n_pred + n_true))
    n_comp, comp = connected_components(graph, directed=False)
    has_pred = np.zeros(n_pred, dtype=bool)
    has_pred[rows] = True
    has_true = np.zeros(n_true, dtype=bool)
    has_true[cols] = True
    pred_c = np.bincount(comp[:n_pred][has_pred], minlength=n_comp)
    true_c = np.bincount(comp[n_pred:][has_true], minlength=n_comp)
    matched = match_p >= 0
    match_c = np.bincount(comp[:n_pred][matched], minlength=n_comp)
    open_comp = match_c < np.minimum(pred_c, true_c)
    return np.flatnonzero(has_pred & ~matched & open_comp[comp[:n_pred]]).tolist()


def _augment(
    root: int, adjacency: list[list[int]], mp: list[int], mt: list[int], visited: list[bool]
) -> bool:
    """Search an augmenting path from the free predicted pixel ``root`` (iterative DFS) and flip it."""
    stack = [(root, iter(adjacency[root]))]
    path: list[tuple[int, int]] = []  # (predicted, true) edges of the current path
    while stack:
        p, it = stack[-1]
        advanced = False
        for g in it:
            if visited[g]:
                continue
            visited[g] = True
            if mt[g] < 0:  # a free true pixel: flip the path
                path.append((p, g))
                for pp, gg in path:
                    mp[pp], mt[gg] = gg, pp
                return True
            path.append((p, g))
            stack.append((mt[g], iter(adjacency[mt[g]])))
            advanced = True
            break
        if not advanced:
            stack.pop()
            if path:
                path.pop()
    return False
