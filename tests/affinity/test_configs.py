import numpy as np
import pytest
import torch

import multitask as mt
from multitask.affinity import select_groups, to_branched_config
from multitask.models.architectures.branched import normalize_branches


def block_affinity(blocks, t, inside=1.0, across=-1.0):
    a = np.full((t, t), across)
    for b in blocks:
        a[np.ix_(b, b)] = inside
    return a


def served_score(a, networks):
    """Σ_t s_t(g) of each task in the network that serves it, re-derived (0 for a task alone)."""
    total = 0.0
    for net in networks:
        for t in net.serves:
            mates = [i for i in net.tasks if i != t]
            total += np.mean([a[i, t] for i in mates]) if mates else 0.0
    return total


def test_overlapping_selection_keeps_every_group_as_a_network():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(30):
        a = rng.normal(size=(5, 5))
        res = select_groups(a, 3)
        if not res.overlaps:
            continue
        checked += 1
        cfg = to_branched_config(res, 3, shared_stages=0)
        assert [n.tasks for n in cfg.networks] == list(res.groups)  # every selected group's tasks kept
        assert sorted(t for n in cfg.networks for t in n.serves) == list(range(5))
        assert cfg.score == pytest.approx(res.score) == pytest.approx(served_score(a, cfg.networks))
        assert cfg.selection_score == pytest.approx(res.score)
        assert any(n.helpers for n in cfg.networks)
        with pytest.raises(ValueError, match="separate networks"):
            _ = cfg.branches
        # the best tree instead: a partition, its (lower or equal) score reported next to the selection's
        tree = to_branched_config(res, 3, shared_stages=1, helpers="partition")
        part = select_groups(a, 3, overlap=False)
        assert tree.score == pytest.approx(part.score)
        assert tree.selection_score == pytest.approx(res.score) and tree.score <= res.score + 1e-9
        assert tree.branches[0] == [[0, 1, 2, 3, 4]] and tree.branches[1] == sorted(
            list(g) for g in part.groups
        )
    assert checked >= 10


def test_overlap_with_shared_stages_is_refused():
    a = np.zeros((3, 3))
    a[2, 0], a[0, 2] = 1.0, -1.0
    a[1, 2] = a[2, 1] = 0.8
    a[0, 1] = a[1, 0] = -1.0
    res = select_groups(a, 2)
    assert res.groups == ((0, 2), (1, 2))
    with pytest.raises(ValueError, match="shared_stages=0"):
        to_branched_config(res, 2)
    cfg = to_branched_config(res, 2, shared_stages=0)
    assert [(n.tasks, n.serves, n.helpers) for n in cfg.networks] == [
        ((0, 2), (0,), (2,)),
        ((1, 2), (1, 2), ()),
    ]
    assert cfg.score == pytest.approx(2.6)
    tree = to_branched_config(res, 2, helpers="partition")
    assert tree.branches == [[[0, 1, 2]], [[0], [1, 2]]] and tree.score == pytest.approx(1.6)


def test_partition_builds_a_branched_model_and_shared_stages_zero_is_accepted():
    tasks = [mt.Task(f"r{i}", "regression", 1) for i in range(4)]
    res = select_groups(block_affinity([[0, 3], [1, 2]], 4), 2)
    cfg = to_branched_config(res, 3, shared_stages=2)
    assert cfg.branches == [[[0, 1, 2, 3]], [[0, 1, 2, 3]], [[0, 3], [1, 2]]]
    assert cfg.score == pytest.approx(res.score) == pytest.approx(4.0)
    assert normalize_branches(cfg.branches, [t.name for t in tasks], 3) == [
        [(0, 1, 2, 3)],
        [(0, 1, 2, 3)],
        [(0, 3), (1, 2)],
    ]
    kwargs = {"tasks": tasks, "backbone": "mlp", "backbone_kwargs": {"in_features": 5, "hidden": [6, 6]}}
    torch.manual_seed(0)
    model = mt.create_model("branched", branches=to_branched_config(res, 2).branches, **kwargs)
    assert set(model(torch.randn(3, 5))) == {t.name for t in tasks}
    shared = {id(p) for p in model.shared_parameters()}
    assert all(id(p) in shared for p in model.branch_blocks[1].parameters())
    # shared_stages=0: the two groups are separate networks from block 0 on
    sep = to_branched_config(res, 1, shared_stages=0)
    assert sep.branches == [[[0, 3], [1, 2]]]
    model = mt.create_model("branched", branches=sep.branches, **kwargs)
    assert len(model.branch_blocks[0]) == 2
    assert set(model(torch.randn(3, 5))) == {t.name for t in tasks}


def test_named_config_and_plain_groups():
    aff = mt.affinity.TaskAffinity(("a", "b", "c"), torch.tensor(block_affinity([[0, 1], [2]], 3)), 1, "x")
    cfg = to_branched_config(select_groups(aff, 2), 2)
    assert cfg.named() == [{"tasks": ["a", "b", "c"], "serves": ["a", "b", "c"],
                            "branches": [[["a", "b", "c"]], [["a", "b"], ["c"]]]}]  # fmt: skip
    plain = to_branched_config([[1, 2], [0]], 2)
    assert plain.branches == [[[0, 1, 2]], [[0], [1, 2]]] and np.isnan(plain.score)
    nets = to_branched_config([[0, 1], [1, 2]], 2, shared_stages=0).networks
    assert [(n.tasks, n.serves) for n in nets] == [((0, 1), (0, 1)), ((1, 2), (2,))]


def test_to_branched_config_errors():
    with pytest.raises(ValueError, match=r"tasks \[1\] are in no group"):
        to_branched_config([[0], [2]], 2)
    with pytest.raises(ValueError, match="num_stages must be an int >= 1"):
        to_branched_config([[0, 1]], 0)
    with pytest.raises(ValueError, match="shared_stages"):
        to_branched_config([[0, 1]], 2, shared_stages=2)
    with pytest.raises(ValueError, match="helpers must be one of"):
        to_branched_config([[0, 1]], 2, helpers="drop")
    with pytest.raises(ValueError, match="needs the Grouping"):
        to_branched_config([[0, 1], [1, 2]], 2, helpers="partition")
    with pytest.raises(TypeError, match="Grouping or a non-empty list"):
        to_branched_config([], 2)
    with pytest.raises(ValueError, match="built without task names"):
        to_branched_config([[0, 1]], 2).named()
