import copy

import pytest
import torch
import torch.nn.functional as F

import multitask as mt
from multitask.models.architectures.adapters import ParallelAdapterConv, TaskBatchNorm
from multitask.models.backbones import create_backbone

BACKBONES = ["lenet", "segnet", "resnet18", "resnet50", "unet"]


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("adapters", bb, config)


@pytest.mark.parametrize("bb", BACKBONES)
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("adapters", bb, "two")


def test_mlp_backbone_is_rejected(case_for):
    with pytest.raises(ValueError, match="no k x k convolution"):
        case_for("mlp").build("adapters", case_for("mlp").configs["two"])


def test_zero_adapters_start_from_the_shared_network(case_for):
    case = case_for("resnet18")
    tasks = case.configs["three"]
    torch.manual_seed(0)
    backbone = create_backbone("resnet18", width=4)
    hps = mt.create_model("hps", backbone=copy.deepcopy(backbone), tasks=tasks).eval()
    model = mt.create_model("adapters", backbone=backbone, tasks=tasks).eval()
    hps.heads.load_state_dict(model.heads.state_dict())
    x, _ = case.batch(tasks)
    a = model(x)
    b = hps(x)
    for name in a:
        torch.testing.assert_close(a[name], b[name])
    # a task's adapters and BN change only that task's predictions
    with torch.no_grad():
        for p in model.task_parameters("depth"):
            p.add_(0.1)
    c = model(x)
    assert not torch.allclose(c["depth"], a["depth"])
    torch.testing.assert_close(c["seg"], a["seg"])
    torch.testing.assert_close(c["pose"], a["pose"])


def test_adapter_placement_and_size():
    tasks = [mt.Task("a", "classification", 3), mt.Task("b", "regression", 1)]
    model = mt.create_model("adapters", backbone="resnet18", tasks=tasks)
    wrapped = [m for m in model.backbone.modules() if isinstance(m, ParallelAdapterConv)]
    assert len(wrapped) == 17  # the 7x7 stem and the 16 3x3 convs; 1x1 shortcuts get none
    assert sum(isinstance(m, TaskBatchNorm) for m in model.backbone.modules()) == 20
    shared = sum(p.numel() for p in model.shared_parameters())
    per_task = sum(p.numel() for m in wrapped for p in m.adapters[0].parameters())
    assert per_task == sum(m.conv.in_channels * m.conv.out_channels for m in wrapped)
    assert per_task < shared / 8  # about 1/9 of each 3x3 conv
    no_bn = mt.create_model("adapters", backbone="resnet18", tasks=tasks, task_norm=False)
    assert not any(isinstance(m, TaskBatchNorm) for m in no_bn.modules())


def test_valid_convolutions_crop_the_adapter_output():
    torch.manual_seed(0)
    tasks = [mt.Task("a", "classification", 3)]
    model = mt.create_model("adapters", backbone="lenet", tasks=tasks, in_channels=1)
    unit = model.backbone.blocks[0].conv
    assert isinstance(unit, ParallelAdapterConv)
    with torch.no_grad():
        unit.adapters[0].weight.normal_()
    x = torch.randn(2, 1, 28, 28)
    model._switch.index = 0
    expected = unit.conv(x) + F.conv2d(x, unit.adapters[0].weight)[..., 2:26, 2:26]
    torch.testing.assert_close(unit(x), expected)
    model._switch.index = None
    with pytest.raises(RuntimeError, match="outside"):
        model.backbone(x)
