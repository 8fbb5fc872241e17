import numpy as np
import pytest
import torch

import multitask as mt
from multitask.models.architectures.branched import normalize_branches
from multitask.models.sharing.fully_adaptive import (
    branch_affinity,
    easiness_affinity,
    fully_adaptive_branches,
    widen,
)


def two_clusters(seed=0):
    """Tasks 0-1 and 2-3 are easy on the same examples within a pair, unrelated across pairs."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=400), rng.normal(size=400)
    noise = 0.05 * rng.normal(size=(400, 4))
    return np.stack([a, a, b, b], axis=1) + noise


def test_easiness_affinity_by_hand():
    losses = torch.tensor([[0.1, 0.9, 0.2], [0.9, 0.1, 0.8], [0.2, 0.8, 0.1], [0.8, 0.2, 0.9]])
    a = easiness_affinity(losses)
    easy = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
    expected = np.array(
        [[np.mean(easy[:, i] == easy[:, j]) for j in range(3)] for i in range(3)]
    )  # P(both easy) + P(both hard)
    np.testing.assert_allclose(a, expected)
    assert a[0, 2] == 1.0 and a[0, 1] == 0.0
    with pytest.raises(ValueError, match="examples, tasks"):
        easiness_affinity(np.zeros(3))


def test_branch_affinity_is_the_mean_of_worst_cases():
    a = np.array([[1.0, 0.8, 0.2], [0.8, 1.0, 0.4], [0.2, 0.4, 1.0]])
    b = branch_affinity(a, [[0, 1], [2]])
    assert b[0, 1] == pytest.approx(((0.2 + 0.4) / 2 + 0.2) / 2)
    assert b[0, 0] == 1.0


def test_widen_splits_only_when_separation_outweighs_the_branch_cost():
    a = easiness_affinity(two_clusters())
    branches = [[0], [1], [2], [3]]
    assert sorted(map(sorted, widen(a, branches, branch_cost=1.0, alpha=10.0))) == [[0, 1], [2, 3]]
    assert widen(a, branches, branch_cost=1.0, alpha=0.1) == [[0, 1, 2, 3]]  # not worth a branch


def test_fully_adaptive_tree_is_valid_and_splits_top_down():
    a = easiness_affinity(two_clusters())
    tree = fully_adaptive_branches(a, num_blocks=3, alpha=3.0, base_cost=1.0, growth=2.0)
    # top block: split into the two clusters (cost 1); lower blocks: a branch costs 2, 4: stay shared
    assert tree == [[[0, 1, 2, 3]], [[0, 1, 2, 3]], [[0, 1], [2, 3]]]
    tasks = [mt.Task(f"t{i}", "regression", 1) for i in range(4)]
    assert normalize_branches(tree, [t.name for t in tasks], 3)
    model = mt.create_model("branched", backbone="lenet", tasks=tasks, in_channels=1, branches=tree)
    assert model(torch.randn(2, 1, 28, 28))["t3"].shape == (2, 1)
    same = fully_adaptive_branches(np.ones((3, 3)), num_blocks=2, alpha=100.0)
    assert same == [[[0, 1, 2]], [[0, 1, 2]]]  # identical tasks: never split
