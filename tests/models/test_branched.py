import copy

import pytest
import torch

import multitask as mt
from multitask.models.architectures.branched import normalize_branches
from multitask.models.backbones import create_backbone

BACKBONES = ["lenet", "mlp", "segnet", "resnet18", "resnet50", "unet"]


def tree(n):
    """Block 0 shared by all, block 1 by all but the last task, then private blocks."""
    return [[list(range(n))], [list(range(n - 1)), [n - 1]], [[i] for i in range(n)]]


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, case_for, check_architecture):
    n = len(case_for(bb).configs[config])
    branches = tree(n)[:2] if bb == "mlp" else tree(n)  # the test MLP has 2 blocks
    check_architecture("branched", bb, config, branches=branches)


@pytest.mark.parametrize("bb", BACKBONES)
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("branched", bb, "three", branches=tree(3)[:2])


def test_normalize_branches_validates_the_tree():
    names = ["a", "b", "c"]
    assert normalize_branches(None, names, 2) == [[(0, 1, 2)], [(0, 1, 2)]]
    got = normalize_branches([[["c", "a", "b"]], [["b", "a"], ["c"]]], names, 4)
    assert got == [[(0, 1, 2)], [(0, 1), (2,)], [(0, 1), (2,)], [(0, 1), (2,)]]
    bad = {
        "cover every task": [[[0, 1]]],
        "splits across": [[[0, 1], [2]], [[1, 2], [0]]],
        "unknown task 'z'": [[["z", "a", "b"]]],
        "index must be": [[[0, 1, 5]]],
        "entries but the backbone": [[[0, 1, 2]]] * 3,
        "non-empty list of tasks": [[[0, 1, 2], []]],
    }
    for message, branches in bad.items():
        with pytest.raises(ValueError, match=message):
            normalize_branches(branches, names, 2)


def test_blocks_are_shared_exactly_as_configured(case_for):
    case = case_for("unet")
    tasks = case.configs["three"]  # seg, depth, pose
    model = case.build(
        "branched", tasks, branches=[[[0, 1, 2]], [["seg", "depth"], ["pose"]], [[0], [1], [2]]]
    )
    assert [len(b) for b in model.branch_blocks] == [1, 2, 3, 3, 3]
    shared = {id(p) for p in model.shared_parameters()}
    assert shared == {id(p) for p in model.branch_blocks[0].parameters()} | {
        id(p) for p in model.branch_blocks[1][0].parameters()
    }
    x, _ = case.batch(tasks)
    model.eval()
    before = model(x)
    with torch.no_grad():
        for p in model.branch_blocks[1][1].parameters():  # the pose task's private block 1
            p.add_(0.5)
    after = model(x)
    assert not torch.allclose(after["pose"], before["pose"])
    torch.testing.assert_close(after["seg"], before["seg"])
    torch.testing.assert_close(after["depth"], before["depth"])


def test_all_shared_tree_equals_hard_sharing(case_for):
    case = case_for("segnet")
    tasks = case.configs["two"]
    torch.manual_seed(0)
    backbone = create_backbone("segnet", width=4)
    branched = mt.create_model("branched", backbone=copy.deepcopy(backbone), tasks=tasks).eval()
    hps = mt.create_model("hps", backbone=backbone, tasks=tasks).eval()
    hps.heads.load_state_dict(branched.heads.state_dict())
    assert list(branched.task_parameters("seg")) == list(branched.heads[0].parameters())
    x, _ = case.batch(tasks)
    a, b = branched(x), hps(x)
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_fully_split_tree_shares_nothing(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("branched", tasks, branches=[[[0], [1]]])
    assert list(model.shared_parameters()) == []
    w0 = model.branch_blocks[0][0].conv1.weight
    w1 = model.branch_blocks[0][1].conv1.weight
    assert not torch.equal(w0, w1)  # freshly initialised branches
