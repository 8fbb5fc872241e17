import copy

import pytest
import torch

import multitask as mt
from multitask.models.architectures.cross_stitch import CrossStitchUnit

BACKBONES = ["lenet", "mlp", "segnet", "resnet18", "resnet50", "unet"]


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("cross_stitch", bb, config)


@pytest.mark.parametrize("bb", BACKBONES)
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("cross_stitch", bb, "two")


def test_unit_initialisation_and_mixing_by_hand():
    unit = CrossStitchUnit(2)
    torch.testing.assert_close(unit.alpha.data, torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    three = CrossStitchUnit(3)
    torch.testing.assert_close(three.alpha.data.sum(1), torch.ones(3))
    assert three.alpha[0, 1].item() == pytest.approx(0.05)
    a, b = torch.ones(2, 3, 4, 4), 2 * torch.ones(2, 3, 4, 4)
    out = unit([a, b])
    torch.testing.assert_close(out[0], torch.full_like(a, 1.1))
    torch.testing.assert_close(out[1], torch.full_like(a, 1.9))


def test_channelwise_unit_mixes_each_channel_with_its_own_matrix():
    torch.manual_seed(0)
    unit = CrossStitchUnit(3, channels=4)
    with torch.no_grad():
        unit.alpha.copy_(torch.randn(4, 3, 3))
    xs = [torch.randn(2, 4, 5) for _ in range(3)]  # also works on [B, C, L] / vector features
    out = unit(xs)
    for s in range(3):
        for c in range(4):
            expected = sum(unit.alpha[c, s, t] * xs[t][:, c] for t in range(3))
            torch.testing.assert_close(out[s][:, c], expected)


def test_identity_stitching_equals_single_task_networks(case_for):
    case = case_for("resnet18")
    tasks = case.configs["three"]
    stitched = case.build("cross_stitch", tasks, init_same=1.0).eval()
    single = case.build("single_task", tasks).eval()
    single.backbones.load_state_dict(stitched.columns.state_dict())
    single.heads.load_state_dict(stitched.heads.state_dict())
    x, _ = case.batch(tasks)
    a, b = stitched(x), single(x)
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_stitch_positions_decide_the_partition(case_for, check_partition, check_ew_grads):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("cross_stitch", tasks, stitch_after=[0, 1], channelwise=True)
    assert model.stitch_after == [0, 1]
    private = {id(p) for p in model.columns[0].blocks[2:].parameters()}
    assert private <= {id(p) for p in model.task_parameters("seg")}
    assert not private & {id(p) for p in model.shared_parameters()}
    check_partition(model)
    check_ew_grads(model, *case.batch(tasks))
    with pytest.raises(ValueError, match="stitch_after"):
        case.build("cross_stitch", tasks, stitch_after=[7])


def test_backbone_module_is_copied_per_task(case_for):
    backbone = mt.models.backbones.create_backbone("mlp", in_features=6, hidden=(8,))
    tasks = case_for("mlp").configs["two"]
    model = mt.create_model("cross_stitch", backbone=copy.deepcopy(backbone), tasks=tasks)
    assert model.columns[0] is not model.columns[1]
    torch.testing.assert_close(model.columns[1].blocks[0].fc.weight, backbone.blocks[0].fc.weight)
