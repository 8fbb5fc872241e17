"""Pareto filtering and exact hypervolume against brute force, inclusion–exclusion and Monte Carlo."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from multitask.metrics import hypervolume, hypervolume_2d, non_dominated


def _brute_non_dominated(pts: np.ndarray) -> np.ndarray:
    n = len(pts)
    return np.array(
        [not any(np.all(pts[j] <= pts[i]) and np.any(pts[j] < pts[i]) for j in range(n)) for i in range(n)]
    )


def _inclusion_exclusion(pts: np.ndarray, ref: np.ndarray) -> float:
    """Volume of the union of the boxes [p, ref] by inclusion–exclusion over all subsets."""
    total = 0.0
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(range(len(pts)), k):
            corner = pts[list(subset)].max(axis=0)
            total += (-1) ** (k + 1) * np.prod(np.clip(ref - corner, 0, None))
    return total


def _grid_count(pts: np.ndarray, ref: np.ndarray) -> int:
    """For integer points: the number of unit cells [c, c+1] dominated by some point."""
    lo = pts.min(axis=0)
    axes = [np.arange(a, b) for a, b in zip(lo.astype(int), ref.astype(int))]
    cells = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(ref))
    return int(np.any(np.all(cells[:, None, :] >= pts[None, :, :], axis=2), axis=1).sum())


def test_non_dominated_hand_example_and_maximize() -> None:
    pts = [[1, 2], [2, 1], [2, 2], [1, 2], [3, 0]]
    assert non_dominated(pts).tolist() == [True, True, False, True, True]
    # maximising both: [2, 2] dominates [1, 2] and [2, 1]; [3, 0] is incomparable
    assert non_dominated(pts, maximize=True).tolist() == [False, False, True, False, True]
    # maximising the first and minimising the second: [3, 0] beats every other point
    assert non_dominated(pts, maximize=[True, False]).tolist() == [False, False, False, False, True]


@pytest.mark.parametrize("d", [2, 3, 4])
def test_non_dominated_matches_brute_force(d: int) -> None:
    rng = np.random.default_rng(d)
    pts = rng.integers(0, 5, size=(40, d)).astype(float)  # many ties and duplicates
    np.testing.assert_array_equal(non_dominated(pts), _brute_non_dominated(pts))


def test_hypervolume_2d_hand_example() -> None:
    # staircase: strip y in [3, 4] of width 3, [2, 3] of width 2, [1, 2] of width 1
    assert hypervolume_2d([[1, 3], [2, 2], [3, 1]], [4, 4]) == pytest.approx(6.0)
    # a dominated point ([3.5, 3.5]) and one outside the reference box ([5, 0]) add nothing
    assert hypervolume_2d([[1, 3], [2, 2], [3, 1], [3.5, 3.5], [5, 0]], [4, 4]) == pytest.approx(6.0)
    assert hypervolume_2d([[1, 3], [3, 1], [2, 2.5]], [4, 4]) == pytest.approx(3 + 2 * 0.5 + 1 * 1.5)
    assert hypervolume_2d(np.empty((0, 2)), [1, 1]) == 0.0
    # maximisation: accuracies (0.9, 0.7), (0.8, 0.8) against ref (0.5, 0.5)
    assert hypervolume_2d([[0.9, 0.7], [0.8, 0.8]], [0.5, 0.5], maximize=True) == pytest.approx(
        0.4 * 0.2 + 0.3 * 0.3 - 0.3 * 0.2
    )


@pytest.mark.parametrize("d", [2, 3, 4])
def test_hypervolume_matches_inclusion_exclusion(d: int) -> None:
    rng = np.random.default_rng(10 + d)
    for _ in range(5):
        pts = rng.random((7, d))
        ref = np.full(d, 1.1)
        assert hypervolume(pts, ref) == pytest.approx(_inclusion_exclusion(pts, ref), rel=1e-12)


@pytest.mark.parametrize("d", [3, 4])
def test_hypervolume_matches_grid_count(d: int) -> None:
    rng = np.random.default_rng(d)
    pts = rng.integers(0, 6, size=(15, d)).astype(float)
    ref = np.full(d, 6.0)
    assert hypervolume(pts, ref) == _grid_count(pts, ref)


def test_hypervolume_agrees_with_2d_and_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    pts2 = rng.random((30, 2))
    assert hypervolume(pts2, [1, 1]) == pytest.approx(hypervolume_2d(pts2, [1, 1]), rel=1e-12)
    pts3 = rng.random((12, 3))
    samples = rng.random((200_000, 3))
    covered = np.zeros(len(samples), dtype=bool)
    for p in pts3:
        covered |= np.all(samples >= p, axis=1)
    assert hypervolume(pts3, [1, 1, 1]) == pytest.approx(covered.mean(), abs=4e-3)  # ~4 sigma
    # maximize flips signs: same volume as the negated minimisation problem
    assert hypervolume(-pts3, [-1, -1, -1], maximize=True) == pytest.approx(hypervolume(pts3, [1, 1, 1]))


def test_hypervolume_edge_cases_and_errors() -> None:
    assert hypervolume([[2.0, 0.0, 0.0]], [1.0, 1.0, 1.0]) == 0.0  # not better than ref in every objective
    assert hypervolume([[0.5]], [1.0]) == 0.5
    assert hypervolume([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [1, 2, 3]) == pytest.approx(6.0)  # duplicates
    with pytest.raises(ValueError, match="objectives"):
        hypervolume([[0.0, 0.0]], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        hypervolume([[np.nan, 0.0]], [1.0, 1.0])
    with pytest.raises(ValueError, match="2-D reference"):
        hypervolume_2d([[0.0, 0.0, 0.0]], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="maximize"):
        non_dominated([[0.0, 0.0]], maximize=[True, False, True])
