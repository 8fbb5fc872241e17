import itertools

import numpy as np
import pytest
import torch

from multitask.affinity import Grouping, TaskAffinity, group_score, select_groups


# ---- an independent reference: brute force over every selection of <= k groups -----------------
def ref_score(a: np.ndarray, groups) -> float:
    """Σ_t max_{g ∋ t} mean_{i ∈ g \\ t} A[i, t] (0 alone); -inf when a task is uncovered."""
    total = 0.0
    for t in range(a.shape[0]):
        vals = [
            0.0 if len(g) == 1 else sum(a[i, t] for i in g if i != t) / (len(g) - 1) for g in groups if t in g
        ]
        if not vals:
            return -np.inf
        total += max(vals)
    return total


def brute_force(a: np.ndarray, k: int, overlap: bool = True) -> float:
    t = a.shape[0]
    subsets = [c for r in range(1, t + 1) for c in itertools.combinations(range(t), r)]
    best = -np.inf
    for m in range(1, k + 1):
        for sel in itertools.combinations(subsets, m):
            if not overlap and sum(len(g) for g in sel) != t:
                continue
            best = max(best, ref_score(a, sel))
    return best


def check_result(a: np.ndarray, res: Grouping, k: int) -> None:
    t = a.shape[0]
    assert 1 <= len(res.groups) <= k
    assert sorted({i for g in res.groups for i in g}) == list(range(t))
    assert res.score == pytest.approx(ref_score(a, res.groups), abs=1e-9)
    assert sum(res.task_scores) == pytest.approx(res.score, abs=1e-9)
    for task, (g, s) in enumerate(zip(res.assignment, res.task_scores)):
        assert task in res.groups[g]
        assert s == pytest.approx(ref_task_score(a, res.groups[g], task), abs=1e-9)
        # the serving group is the one where the task gains the most
        assert all(ref_task_score(a, grp, task) <= s + 1e-9 for grp in res.groups if task in grp)


def ref_task_score(a: np.ndarray, group, t: int) -> float:
    return 0.0 if len(group) == 1 else sum(a[i, t] for i in group if i != t) / (len(group) - 1)


CASES = [(3, 1), (3, 2), (4, 2), (4, 3), (4, 4), (5, 2), (5, 3), (6, 2)]


@pytest.mark.parametrize(("t", "k"), CASES)
def test_exact_matches_brute_force_on_random_affinities(t, k):
    rng = np.random.default_rng(100 * t + k)
    for _ in range(3):
        a = rng.normal(size=(t, t))
        res = select_groups(a, k, method="exact")
        check_result(a, res, k)
        assert res.method == "exact"
        assert res.score == pytest.approx(brute_force(a, k), abs=1e-9)


@pytest.mark.parametrize(("t", "k"), [(4, 2), (5, 3)])
def test_exact_without_overlap_matches_brute_force_over_partitions(t, k):
    rng = np.random.default_rng(t + 7 * k)
    a = rng.normal(size=(t, t))
    res = select_groups(a, k, method="exact", overlap=False)
    assert sorted(i for g in res.groups for i in g) == list(range(t))  # a partition
    assert res.score == pytest.approx(brute_force(a, k, overlap=False), abs=1e-9)
    assert res.score <= select_groups(a, k, method="exact").score + 1e-9


@pytest.mark.parametrize(("t", "k"), [(4, 2), (5, 3), (6, 2), (6, 3)])
def test_greedy_is_feasible_and_never_beats_the_exact_optimum(t, k):
    rng = np.random.default_rng(3 * t + k)
    for _ in range(3):
        a = rng.normal(size=(t, t))
        res = select_groups(a, k, method="greedy")
        check_result(a, res, k)
        assert res.method == "greedy"
        assert res.score <= select_groups(a, k, method="exact").score + 1e-9


def block_affinity(blocks, t, inside=1.0, across=-1.0, noise=0.0, seed=0):
    a = np.full((t, t), across)
    for b in blocks:
        a[np.ix_(b, b)] = inside
    if noise:
        a += np.random.default_rng(seed).uniform(-noise, noise, size=(t, t))
    return a


@pytest.mark.parametrize("method", ["exact", "greedy"])
def test_block_structured_affinity_recovers_the_blocks(method):
    a = block_affinity([[0, 2, 4], [1, 3]], 5, noise=0.1)
    res = select_groups(a, 2, method=method)
    assert res.groups == ((0, 2, 4), (1, 3))
    assert res.served == ((0, 2, 4), (1, 3))
    # without noise a larger budget cannot help (each task already gains the most it can from its
    # block), and ties go to fewer groups
    exact_blocks = block_affinity([[0, 2, 4], [1, 3]], 5)
    big = select_groups(exact_blocks, 4, method=method)
    assert big.groups == ((0, 2, 4), (1, 3))
    assert big.score == pytest.approx(5.0)


def test_block_structure_hand_worked_scores():
    a = block_affinity([[0, 1, 2], [3, 4]], 5)
    assert select_groups(a, 2).score == pytest.approx(5.0)  # every task averages +1 from its block
    # budget 1: all five together; each task receives (block-mates - others) / 4
    one = select_groups(a, 1)
    assert one.groups == ((0, 1, 2, 3, 4),)
    assert one.score == pytest.approx(3 * (2 - 2) / 4 + 2 * (1 - 3) / 4)


def test_greedy_fallback_recovers_blocks_for_many_tasks():
    blocks = [list(range(0, 30, 3)), list(range(1, 30, 3)), list(range(2, 30, 3))]
    a = block_affinity(blocks, 30, noise=0.2, seed=1)
    res = select_groups(a, 3, restarts=2)  # auto -> greedy for T = 30
    assert res.method == "greedy"
    assert res.groups == tuple(tuple(b) for b in blocks)


def test_overlapping_helper_task_hand_worked():
    # task 2 helps task 0 but not the reverse; tasks 1 and 2 help each other; 0 and 1 conflict
    a = np.zeros((3, 3))
    a[2, 0], a[0, 2] = 1.0, -1.0
    a[1, 2] = a[2, 1] = 0.8
    a[0, 1] = a[1, 0] = -1.0
    res = select_groups(a, 2)
    assert res.groups == ((0, 2), (1, 2))
    assert res.assignment == (0, 1, 1)  # task 2 is trained in both but served by {1, 2}
    assert res.served == ((0,), (1, 2))
    assert res.score == pytest.approx(1.0 + 0.8 + 0.8)
    assert res.task_scores == pytest.approx((1.0, 0.8, 0.8))
    part = select_groups(a, 2, overlap=False)
    assert part.groups == ((0,), (1, 2)) and part.score == pytest.approx(1.6)


def test_budget_handling():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(4, 4))
    assert select_groups(a, 1).groups == ((0, 1, 2, 3),)
    assert select_groups(a, 9).score == pytest.approx(select_groups(a, 4).score)
    scores = [select_groups(a, k).score for k in range(1, 5)]
    assert all(x <= y + 1e-12 for x, y in zip(scores, scores[1:]))  # more budget never hurts
    assert select_groups(a, np.int64(2)).score == pytest.approx(scores[1])
    with pytest.raises(ValueError, match="k must be >= 1"):
        select_groups(a, 0)
    for bad in (True, 1.5, "2"):
        with pytest.raises(TypeError, match="budget k must be an int"):
            select_groups(a, bad)


def test_bad_affinity_inputs():
    with pytest.raises(ValueError, match="square"):
        select_groups(np.zeros((2, 3)), 1)
    with pytest.raises(ValueError, match="square"):
        select_groups(np.zeros(3), 1)
    with pytest.raises(ValueError, match="empty"):
        select_groups(np.zeros((0, 0)), 1)
    nan = np.zeros((3, 3))
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"non-finite entry nan at \[1, 2\]"):
        select_groups(nan, 1)
    with pytest.raises(ValueError, match="non-finite"):
        select_groups(torch.tensor([[0.0, float("inf")], [0.0, 0.0]]), 1)
    with pytest.raises(TypeError, match="real"):
        select_groups([["a", "b"], ["c", "d"]], 1)
    with pytest.raises(ValueError, match="method"):
        select_groups(np.zeros((2, 2)), 1, method="annealing")
    with pytest.raises(ValueError, match="T <= 15"):
        select_groups(np.zeros((16, 16)), 2, method="exact")


def test_task_affinity_input_keeps_names_and_torch_input_works():
    a = block_affinity([[0, 1], [2]], 3)
    aff = TaskAffinity(("seg", "depth", "normal"), torch.tensor(a), 4, "lookahead")
    res = select_groups(aff, 2)
    assert res.named_groups() == [["seg", "depth"], ["normal"]]
    assert res.groups == select_groups(torch.tensor(a), 2).groups
    with pytest.raises(ValueError, match="no task names"):
        select_groups(a, 2).named_groups()


def test_permuting_tasks_permutes_the_answer():
    rng = np.random.default_rng(11)
    a = rng.normal(size=(5, 5))
    perm = rng.permutation(5)
    res = select_groups(a, 2)
    permuted = select_groups(a[np.ix_(perm, perm)], 2)
    assert permuted.score == pytest.approx(res.score)
    mapped = sorted(tuple(sorted(int(perm[i]) for i in g)) for g in permuted.groups)
    assert ref_score(a, mapped) == pytest.approx(res.score)


def test_group_score_and_errors():
    a = block_affinity([[0, 1], [2]], 3)
    assert group_score(a, [[0, 1], [2]]) == pytest.approx(2.0)
    assert group_score(a, [[0, 1, 2]]) == pytest.approx(0.0 + 0.0 - 1.0)  # (1 - 1)/2 twice, (-1 - 1)/2
    with pytest.raises(ValueError, match=r"tasks \[2\] are in no group"):
        group_score(a, [[0, 1]])
    with pytest.raises(ValueError, match="out of range"):
        group_score(a, [[0, 1, 2, 3]])
    with pytest.raises(ValueError, match="repeats"):
        group_score(a, [[0, 0, 1, 2]])
    with pytest.raises(ValueError, match="non-empty"):
        group_score(a, [[0, 1, 2], []])
