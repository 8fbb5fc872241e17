"""Tolerance-matched edge metrics (EdgeMetrics): shifted / thickened edges, brute-force matching, thinning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from multitask.metrics import EdgeMetrics, PixelEdgeMetrics
from multitask.metrics._boundary import thin

LOGIT = 4.0  # a confident edge: q = sigmoid(4) = 0.982


def _ring(size: int, lo: int, hi: int, width: int = 1, shift: int = 0) -> np.ndarray:
    """The outline of the square [lo, hi]² drawn ``width`` pixels wide (centred), moved ``shift`` columns."""
    img = np.zeros((size, size), dtype=bool)
    half = width // 2
    for d in range(-half, half + 1):
        a, b = lo + d, hi - d
        img[a, a : b + 1] = img[b, a : b + 1] = True
        img[a : b + 1, a] = img[a : b + 1, b] = True
    return np.roll(img, shift, axis=1)


def _logits(edges: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.where(edges, LOGIT, -LOGIT)).float()[None, None]


def _target(edges: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(edges).float()[None, None]


def test_one_pixel_shift_scores_one_within_tolerance() -> None:
    # 100 x 100: tolerance 0.0075 * 141.4 = 1.06 pixels
    truth, shifted = _ring(100, 20, 70), _ring(100, 20, 70, shift=1)
    tolerant, exact = EdgeMetrics(task="edge"), PixelEdgeMetrics(task="edge")
    tolerant.update(_logits(shifted), _target(truth))
    exact.update(_logits(shifted), _target(truth))
    out = tolerant.compute()
    # thinning turns the ring's four 4-connected corners diagonal, so 4 of 200 true pixels stay unmatched
    assert out["precision"] == pytest.approx(1.0) and out["recall"] == pytest.approx(196 / 200)
    assert out["ods_f"] == pytest.approx(_brute_force_f(thin(shifted), truth, 1.0607))
    assert out["ods_f"] == pytest.approx(392 / 396)
    # pixel-exact: only the two horizontal sides overlap (50 of 51 pixels each) out of 200 per map
    assert exact.compute()["ods_f"] == pytest.approx(100 / 200)
    # a two-pixel shift is beyond 1.06 pixels for the vertical sides (51 + 51 of the 200 pixels)
    far = EdgeMetrics(task="edge")
    far.update(_logits(_ring(100, 20, 70, shift=2)), _target(truth))
    expected = _brute_force_f(thin(_ring(100, 20, 70, shift=2)), truth, 1.0607)
    assert far.compute()["ods_f"] == pytest.approx(expected)
    assert far.compute()["ods_f"] < 0.6


def test_thickened_edges_are_thinned_before_matching() -> None:
    truth, thick = _ring(100, 20, 70), _ring(100, 20, 70, width=3)
    tolerant, unthinned = EdgeMetrics(task="edge"), EdgeMetrics(thin=False, task="edge")
    tolerant.update(_logits(thick), _target(truth))
    unthinned.update(_logits(thick), _target(truth))
    out = tolerant.compute()
    assert out["precision"] == pytest.approx(1.0) and out["recall"] >= 0.97  # corners cut by thinning
    assert out["ods_f"] == pytest.approx(_brute_force_f(thin(thick), truth, 1.0607))
    assert out["ods_f"] > 0.98
    # without thinning every true pixel is still matched, but two of each three predicted pixels are not
    n_true, n_thick = int(truth.sum()), int(thick.sum())
    assert unthinned.compute()["precision"] == pytest.approx(n_true / n_thick)
    assert n_true / n_thick < 0.4


def test_tolerance_below_one_pixel_is_pixel_exact() -> None:
    truth, shifted = _ring(100, 20, 70), _ring(100, 20, 70, shift=1)
    m = EdgeMetrics(max_dist=0.005, task="edge")  # 0.71 pixels
    m.update(_logits(shifted), _target(truth))
    thinned = thin(shifted)
    assert m.compute()["ods_f"] == pytest.approx(2 * (thinned & truth).sum() / (thinned.sum() + truth.sum()))
    assert m.compute()["ods_f"] < 0.55


def _brute_force_matches(pred: np.ndarray, truth: np.ndarray, radius: float) -> int:
    """Maximum one-to-one matching by a dense assignment: cost 0 within ``radius``, 1 beyond."""
    p, t = np.argwhere(pred), np.argwhere(truth)
    if len(p) == 0 or len(t) == 0:
        return 0
    dist = np.sqrt(((p[:, None, :] - t[None, :, :]) ** 2).sum(-1))
    cost = (dist > radius + 1e-9).astype(float)
    rows, cols = linear_sum_assignment(cost)
    return int((cost[rows, cols] == 0).sum())


def _brute_force_f(pred: np.ndarray, truth: np.ndarray, radius: float) -> float:
    m = _brute_force_matches(pred, truth, radius)
    return 2 * m / (pred.sum() + truth.sum())


def test_matches_a_brute_force_assignment_and_streams() -> None:
    rng = np.random.default_rng(0)
    q = rng.random((3, 30, 34))
    truth = rng.random((3, 30, 34)) < 0.15
    logits = torch.from_numpy(np.log(q / (1 - q)))[:, None]
    target = torch.from_numpy(truth).float()[:, None]
    max_dist = 0.05  # radius 0.05 * hypot(30, 34) = 2.27 pixels
    radius = max_dist * math.hypot(30, 34)
    streamed = EdgeMetrics(num_thresholds=9, max_dist=max_dist, thin=False, task="edge")
    single = EdgeMetrics(num_thresholds=9, max_dist=max_dist, thin=False, task="edge")
    for i in range(3):
        streamed.update(logits[i : i + 1], target[i : i + 1])
    single.update(logits, target)
    best = 0.0
    for k in range(1, 10):
        pred = q >= k / 10
        m = sum(_brute_force_matches(pred[i], truth[i], radius) for i in range(3))
        best = max(best, 2 * m / (pred.sum() + truth.sum()))
    pred = q >= 0.5
    m = sum(_brute_force_matches(pred[i], truth[i], radius) for i in range(3))
    out = streamed.compute()
    assert out["ods_f"] == pytest.approx(best)
    assert out["precision"] == pytest.approx(m / pred.sum())
    assert out["recall"] == pytest.approx(m / truth.sum())
    assert out == pytest.approx(single.compute())


def test_thinning_keeps_topology_and_one_pixel_width() -> None:
    thick = _ring(40, 8, 30, width=3)
    thinned = thin(thick)
    assert not (thinned & ~thick).any()  # only removes pixels
    eight = np.ones((3, 3), dtype=int)
    assert ndimage.label(thinned, eight)[1] == 1  # still one closed curve ...
    assert ndimage.label(~thinned, np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]]))[1] == 2  # ... with a hole
    assert thinned.sum() < thick.sum() / 2.5
    assert (thin(thinned) == thinned).all()  # idempotent
    line = np.zeros((40, 40), dtype=bool)
    line[5:35, 20] = True
    line[5 + np.arange(10), 5 + np.arange(10)] = True  # a separate diagonal segment
    assert (thin(line) == line).all()  # one-pixel-wide curves are already thin
    # a batch of maps is thinned map by map
    np.testing.assert_array_equal(thin(np.stack([thick, line])), np.stack([thinned, line]))


def test_edge_metric_errors_and_resize() -> None:
    with pytest.raises(ValueError, match="'edge'.*max_dist"):
        EdgeMetrics(max_dist=-0.1, task="edge")
    with pytest.raises(ValueError, match="'edge'.*threshold"):
        EdgeMetrics(threshold=0.0, task="edge")
    m = EdgeMetrics(task="edge")
    with pytest.raises(ValueError, match="'edge'"):
        m.compute()
    truth = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="'edge'.*\\[0, 1\\]"):
        m.update(torch.zeros(1, 1, 4, 4), truth - 1)
    truth[..., 0, :] = 1.0
    m.update(torch.full((1, 1, 2, 2), math.log(0.7 / 0.3)), truth)  # q = 0.7 everywhere after the resize
    # every threshold below 0.7 predicts the full map, thinned; the tolerance (0.04 px) is exact matching
    full = thin(np.ones((4, 4), dtype=bool))
    hits = int((full & truth[0, 0].numpy().astype(bool)).sum())
    out = m.compute()
    assert out["precision"] == pytest.approx(hits / full.sum()) and out["recall"] == pytest.approx(hits / 4)
    assert out["ods_f"] == pytest.approx(2 * hits / (full.sum() + 4))


def test_thick_truth_can_be_thinned() -> None:
    thick = _ring(100, 20, 70, width=3)
    as_is, thinned = EdgeMetrics(task="edge"), EdgeMetrics(thin_truth=True, task="edge")
    for m in (as_is, thinned):
        m.update(_logits(thick), _target(thick))  # a perfect prediction of a 3-pixel-wide truth
    # the thinned prediction matches one pixel of each three-pixel-wide cross-section
    t = thin(thick)
    assert as_is.compute()["recall"] == pytest.approx(t.sum() / thick.sum())
    assert thinned.compute() == pytest.approx({"ods_f": 1.0, "f1": 1.0, "precision": 1.0, "recall": 1.0})
    with pytest.raises(ValueError, match="different settings"):
        as_is.merge(thinned)


def _thin_reference(img: np.ndarray) -> np.ndarray:
    """Lam, Lee & Suen's thinning (MATLAB bwmorph 'thin'), straight from its three conditions."""
    img = np.pad(img.astype(bool), 1)
    nbrs = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))  # x1 = E, then CCW
    changed = True
    while changed:
        changed = False
        for sub in (1, 2):
            remove = []
            for i, j in zip(*np.nonzero(img)):
                x = [None] + [bool(img[i + di, j + dj]) for di, dj in nbrs]
                x.append(x[1])  # x9 = x1
                x_h = sum(not x[2 * k - 1] and (x[2 * k] or x[2 * k + 1]) for k in range(1, 5))
                n1 = sum(x[2 * k - 1] or x[2 * k] for k in range(1, 5))
                n2 = sum(x[2 * k] or x[2 * k + 1] for k in range(1, 5))
                g3 = (x[2] or x[3] or not x[8]) and x[1] if sub == 1 else (x[6] or x[7] or not x[4]) and x[5]
                if x_h == 1 and 2 <= min(n1, n2) <= 3 and not g3:
                    remove.append((i, j))
            for i, j in remove:
                img[i, j] = False
            changed |= bool(remove)
    return img[1:-1, 1:-1]


def test_thinning_equals_the_rule_applied_pixel_by_pixel() -> None:
    rng = np.random.default_rng(5)
    maps = ndimage.binary_opening(rng.random((4, 18, 22)) < 0.55, np.ones((1, 2, 2)))
    maps[1, 2:16, 3:19] = True  # a filled rectangle touching nothing
    ours = thin(maps)
    for m, t in zip(maps, ours):
        np.testing.assert_array_equal(t, _thin_reference(m))


def test_matching_on_a_ladder_of_parallel_boundaries() -> None:
    # two true lines 2 pixels apart, predicted one row lower: every pixel has several candidates, a
    # ladder-like graph (on which scipy's Hopcroft-Karp takes exponential time); all 100 pairs match
    truth = np.zeros((60, 60), dtype=bool)
    truth[[20, 22], 5:55] = True
    pred = np.roll(truth, 1, axis=0)
    max_dist = 2.5 / math.hypot(60, 60)
    m = EdgeMetrics(max_dist=max_dist, thin=False, num_thresholds=1, task="edge")
    m.update(_logits(pred), _target(truth))
    assert _brute_force_matches(pred, truth, 2.5) == 100
    assert m.compute()["recall"] == pytest.approx(1.0) and m.compute()["precision"] == pytest.approx(1.0)


def test_augmenting_paths_fix_a_suboptimal_nearest_first_start() -> None:
    from multitask.metrics._boundary import disk_offsets, match_count

    truth = np.zeros((5, 9), dtype=bool)
    pred = np.zeros((5, 9), dtype=bool)
    truth[2, [4, 6]] = True  # g1, g2
    pred[2, [4, 2]] = True  # p1 on g1 (and 2 from g2), p2 2 from g1 only
    # nearest first matches p1-g1 and leaves p2 alone; the maximum is p1-g2, p2-g1
    assert match_count(pred, truth, disk_offsets(2.2)) == 2 == _brute_force_matches(pred, truth, 2.2)
    assert match_count(pred, truth, disk_offsets(1.5)) == 1 == _brute_force_matches(pred, truth, 1.5)


def test_matching_with_many_components_equals_brute_force() -> None:
    """Sparse random maps (many separate components, some saturated by the nearest-first start, some
    not): the augmenting search restricted to unsaturated components still finds the maximum."""
    from multitask.metrics._boundary import disk_offsets, match_count

    rng = np.random.default_rng(11)
    for _ in range(25):
        pred = rng.random((16, 18)) < 0.06
        truth = rng.random((16, 18)) < 0.06
        pred[2, [2, 8]] = False
        truth[2, 2:9] = False
        pred[2, [4, 2]], truth[2, [4, 6]] = True, True  # the suboptimal-start pattern in every map
        for radius in (1.5, 2.2, 3.1):
            assert match_count(pred, truth, disk_offsets(radius)) == _brute_force_matches(pred, truth, radius)
