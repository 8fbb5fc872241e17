import itertools

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

import multitask as mt
from multitask.affinity.rsa import branch_features, branching_tree, layer_dissimilarity

PLANTED = [[[0, 1, 2, 3]], [[0, 1], [2, 3]], [[0], [1], [2], [3]]]


def planted_features(tree, k=40, dim=12, noise=0.05, seed=0):
    """Tasks in the same group at a block see the same latent features there (plus a little noise)."""
    rng = np.random.default_rng(seed)
    feats = {f"t{i}": [] for i in range(4)}
    for partition in tree:
        for group in partition:
            z = rng.normal(size=(k, dim))
            for i in group:
                feats[f"t{i}"].append(torch.tensor(z + noise * rng.normal(size=(k, dim))))
    return feats


@pytest.mark.parametrize("method", ["rsa", "cka"])
def test_recovers_planted_groups_layer_by_layer(method):
    d = layer_dissimilarity(planted_features(PLANTED), method)
    assert d.shape == (3, 4, 4)
    same = [d[l, i, j] for l, part in enumerate(PLANTED) for g in part for i in g for j in g if i < j]
    assert max(same) < 0.1 < 0.5 < d[1, 0, 2]  # planted groups are near 0, others far
    tree = branching_tree(d, [1.0, 1.0, 1.0], budget=7.0)  # exactly the planted tree's cost 1 + 2 + 4
    assert tree.branches == PLANTED and tree.cost == pytest.approx(7.0)
    # a tighter budget forces sharing where the dissimilarity is highest the least
    tight = branching_tree(d, [1.0, 1.0, 1.0], budget=5.0)
    assert tight.cost <= 5.0 and tight.branches[1] == [[0, 1], [2, 3]]
    assert tight.score > tree.score
    shared = branching_tree(d, [1.0, 1.0, 1.0], budget=3.0)
    assert shared.branches == [[[0, 1, 2, 3]]] * 3


def rdm_reference(f):
    m = f.reshape(f.shape[0], -1).numpy()
    return 1 - np.corrcoef(m)


def test_rsa_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    a = torch.tensor(rng.normal(size=(10, 3, 2)))
    b = torch.tensor(rng.normal(size=(10, 6)) + a.reshape(10, 6).numpy())
    d = layer_dissimilarity({"a": [a], "b": [b]})
    iu = np.triu_indices(10, 1)
    rho = spearmanr(rdm_reference(a)[iu], rdm_reference(b)[iu]).statistic
    assert d[0, 0, 1] == pytest.approx(1 - rho) and d[0, 1, 0] == d[0, 0, 1] and d[0, 0, 0] == 0
    x, y = a.reshape(10, -1).numpy(), b.numpy()
    x, y = x - x.mean(0), y - y.mean(0)
    cka = np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))
    assert layer_dissimilarity({"a": [a], "b": [b]}, "cka")[0, 0, 1] == pytest.approx(1 - cka)


def all_partitions(t):
    seen = set()
    for labels in itertools.product(range(t), repeat=t):
        part = tuple(sorted(tuple(i for i in range(t) if labels[i] == c) for c in set(labels)))
        seen.add(part)
    return sorted(seen)


def brute_force_tree(d, costs, budget):
    """Every chain of partitions, each refining the previous; least score within the budget."""
    parts = all_partitions(d.shape[1])

    def refines(q, p):
        return all(any(set(g) <= set(h) for h in p) for g in q)

    def score(l, p):
        return np.mean([max(d[l, i, j] for i in g for j in g) for g in p])

    best = np.inf
    for chain in itertools.product(parts, repeat=d.shape[0]):
        if all(refines(chain[l + 1], chain[l]) for l in range(len(chain) - 1)):
            if sum(len(p) * c for p, c in zip(chain, costs)) <= budget + 1e-9:
                best = min(best, sum(score(l, p) for l, p in enumerate(chain)))
    return best


def test_tree_search_equals_brute_force():
    rng = np.random.default_rng(2)
    for budget in (3.5, 5.0, 6.5, 9.0):
        a = rng.uniform(size=(3, 4, 4))
        d = (a + a.transpose(0, 2, 1)) / 2
        for l in range(3):
            np.fill_diagonal(d[l], 0.0)
        costs = [1.0, 0.5, 1.0]
        tree = branching_tree(d, costs, budget)
        assert tree.score == pytest.approx(brute_force_tree(d, costs, budget))
        assert tree.cost <= budget + 1e-9
        assert tree.score == pytest.approx(sum(tree.layer_scores))


def test_branch_features_of_single_task_networks():
    tasks = [mt.Task(f"r{i}", "regression", 1) for i in range(3)]
    torch.manual_seed(0)
    model = mt.create_model(
        "branched", tasks=tasks, backbone="mlp", backbone_kwargs={"in_features": 5, "hidden": [6, 7]},
        branches=[[[0], [1], [2]]],
    )  # fmt: skip
    feats = branch_features(model, torch.randn(8, 5))
    assert list(feats) == ["r0", "r1", "r2"]
    assert [tuple(f.shape) for f in feats["r0"]] == [(8, 6), (8, 7)]
    assert not torch.equal(feats["r0"][0], feats["r1"][0])
    shared = mt.create_model(
        "branched", tasks=tasks, backbone="mlp", backbone_kwargs={"in_features": 5, "hidden": [6, 7]},
        branches=[[[0, 1, 2]], [[0, 1], [2]]],
    )  # fmt: skip
    feats = branch_features(shared, torch.randn(8, 5))
    assert torch.equal(feats["r0"][0], feats["r2"][0]) and torch.equal(feats["r0"][1], feats["r1"][1])
    with pytest.raises(TypeError, match="branched"):
        branch_features(torch.nn.Linear(2, 2), torch.randn(1, 2))


def test_errors():
    f = [torch.randn(5, 3)]
    with pytest.raises(ValueError, match="at least two tasks"):
        layer_dissimilarity({"a": f})
    with pytest.raises(ValueError, match="method must be"):
        layer_dissimilarity({"a": f, "b": f}, "svcca")
    with pytest.raises(ValueError, match="same blocks"):
        layer_dissimilarity({"a": f, "b": f + f})
    with pytest.raises(ValueError, match="constant"):
        layer_dissimilarity({"a": [torch.ones(5, 3)], "b": f})
    d = np.zeros((2, 3, 3))
    with pytest.raises(ValueError, match="below the cost of the fully shared"):
        branching_tree(d, [1.0, 1.0], 1.5)
    with pytest.raises(ValueError, match="block_costs must be 2"):
        branching_tree(d, [1.0], 5.0)
    with pytest.raises(ValueError, match=r"\[L, T, T\]"):
        branching_tree(np.zeros((3, 3)), [1.0], 5.0)
