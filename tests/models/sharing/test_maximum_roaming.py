import pytest
import torch

import multitask as mt
from multitask.models.sharing.maximum_roaming import initial_partition, roam

CASES = [
    ("lenet", "two"),
    ("lenet", "three"),
    ("lenet", "five"),
    ("resnet18", "two"),
    ("resnet18", "three"),
    ("resnet18", "five"),
]


@pytest.mark.parametrize("bb,config", CASES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("maximum_roaming", bb, config)


@pytest.mark.parametrize("bb", ["lenet", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("maximum_roaming", bb, "three")


def test_initial_partition_covers_units_with_the_ratio():
    torch.manual_seed(0)
    mask = initial_partition(3, 20, 0.4, None)
    assert mask.sum(0).min() >= 1  # every unit used by some task
    assert mask.sum(1).tolist() == [8.0, 8.0, 8.0]
    assert initial_partition(2, 6, 1.0, None).eq(1).all()
    assert initial_partition(5, 4, 0.1, None).sum(0).min() >= 1  # fewer units than tasks: still covered


def test_roaming_visits_every_unit_and_keeps_the_share():
    """The defining property: over the updates each task's partition covers every unit of the layer."""
    torch.manual_seed(1)
    mask = initial_partition(3, 12, 0.25, None)
    visited = mask > 0
    history = mask.clone()
    for _ in range(20):
        before = mask.clone()
        roam(mask, visited)
        assert mask.sum(1).tolist() == before.sum(1).tolist()  # each task keeps its number of units
        history = torch.maximum(history, mask)
        assert torch.equal(visited, history > 0)
    assert visited.all() and history.eq(1).all()
    frozen = mask.clone()
    roam(mask, visited)
    assert torch.equal(mask, frozen)  # all visited: the partition stays


def test_model_roams_at_epoch_ends(case_for):
    case = case_for("lenet")
    model = case.build("maximum_roaming", case.configs["two"], sharing_ratio=0.3, update_every=2)
    start = {i: m.clone() for i, m in model.masks().items()}
    model.on_epoch_end(0)
    assert all(torch.equal(start[i], m) for i, m in model.masks().items())
    model.on_epoch_end(1)
    assert all(not torch.equal(start[i], m) for i, m in model.masks().items())
    for _ in range(60):
        model.roam()
    assert all(v.all() for v in model.visited().values())
    state = model.state_dict()
    assert any(k.startswith("mask_") for k in state) and any(k.startswith("visited_") for k in state)


def test_forward_masks_each_task_path(case_for):
    """Recompute task t's prediction from the blocks with its masks applied by hand."""
    case = case_for("lenet")
    tasks = case.configs["three"]
    model = case.build("maximum_roaming", tasks, sharing_ratio=0.5).eval()
    x, _ = case.batch(tasks)
    out = model(x)
    masks = model.masks()
    for t, task in enumerate(tasks):
        h = x
        for i, block in enumerate(model.backbone.blocks):
            _, h = block(h, {})
            m = masks[i][t]
            h = h * (m[None, :, None, None] if h.dim() == 4 else m[None, :])
        torch.testing.assert_close(out[task.name], model.heads[t](h))
    assert not torch.allclose(out["digit"], model.heads[0](model.backbone(x)))


def test_full_sharing_ratio_equals_hard_sharing(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("maximum_roaming", tasks, sharing_ratio=1.0).eval()
    hps = case.build("hps", tasks).eval()
    hps.backbone.load_state_dict(model.backbone.state_dict())
    hps.heads.load_state_dict(model.heads.state_dict())
    x, _ = case.batch(tasks)
    a, b = model(x), hps(x)
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_bad_arguments():
    tasks = [mt.Task("a", "classification", 2), mt.Task("b", "regression", 1)]
    for bad in (0.0, 1.5, "half"):
        with pytest.raises(ValueError, match="sharing_ratio"):
            mt.create_model("maximum_roaming", tasks=tasks, backbone="mlp", in_channels=4, sharing_ratio=bad)
    with pytest.raises(ValueError, match="update_every"):
        mt.create_model("maximum_roaming", tasks=tasks, backbone="mlp", in_channels=4, update_every=0)
    with pytest.raises(ValueError, match="masked_blocks"):
        mt.create_model("maximum_roaming", tasks=tasks, backbone="mlp", in_channels=4, masked_blocks=[7])
