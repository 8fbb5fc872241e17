import pytest
import torch

from multitask.models.architectures.nddr import NDDRLayer

BACKBONES = ["lenet", "mlp", "segnet", "resnet18", "resnet50", "unet"]


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("nddr", bb, config)


@pytest.mark.parametrize("bb", BACKBONES)
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("nddr", bb, "two")


def test_layer_initialisation_is_alpha_own_beta_others():
    layer = NDDRLayer(3, 4, index=1, alpha=0.9, beta=0.1)
    assert layer.bn.momentum == 0.05
    fs = [torch.randn(2, 4, 3, 3) for _ in range(3)]
    mixed = layer.conv(torch.cat(fs, dim=1))
    torch.testing.assert_close(mixed, 0.1 * fs[0] + 0.9 * fs[1] + 0.1 * fs[2])
    layer.eval()  # fresh running statistics: mean 0, variance 1
    expected = torch.relu(mixed / (1 + layer.bn.eps) ** 0.5)
    torch.testing.assert_close(layer(torch.cat(fs, dim=1)), expected)


@pytest.mark.parametrize("config,alpha", [("two", 0.9), ("three", 0.9), ("five", 0.6)])
def test_default_beta_makes_rows_sum_to_one(case_for, config, alpha):
    """β = (1 - α)/(T - 1), like cross-stitch: each task's initial fusion is a convex combination."""
    case = case_for("unet")
    tasks = case.configs[config]
    t = len(tasks)
    model = case.build("nddr", tasks, alpha=alpha, fuse_after=[0])
    c = model.columns[0].block_channels[0]
    for index, layer in enumerate(model.fusions["0"]):
        w = layer.conv.weight[:, :, 0, 0].detach().reshape(c, t, c)
        for k in range(t):
            expected = alpha if k == index else (1 - alpha) / (t - 1)
            torch.testing.assert_close(w[:, k], expected * torch.eye(c))
        torch.testing.assert_close(w.sum(dim=(1, 2)), torch.ones(c))
    single = case.build("nddr", tasks[:1], fuse_after=[0])
    torch.testing.assert_close(single.fusions["0"][0].conv.weight[:, :, 0, 0], 0.9 * torch.eye(c))


def test_identity_fusion_equals_single_task_networks(case_for):
    case = case_for("resnet18")
    tasks = case.configs["three"]
    model = case.build("nddr", tasks, alpha=1.0, beta=0.0).eval()
    for layers in model.fusions.values():
        for layer in layers:
            layer.bn.eps = 0.0  # eval BN with fresh statistics is then the identity
    single = case.build("single_task", tasks).eval()
    single.backbones.load_state_dict(model.columns.state_dict())
    single.heads.load_state_dict(model.heads.state_dict())
    x, _ = case.batch(tasks)
    a, b = model(x), single(x)
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_last_fusion_layers_are_task_specific(case_for, check_partition):
    case = case_for("unet")
    tasks = case.configs["two"]
    model = case.build("nddr", tasks, fuse_after=[1, 3])
    own = {id(p) for p in model.task_parameters("seg")}
    assert {id(p) for p in model.fusions["3"][0].parameters()} <= own
    assert {id(p) for p in model.columns[0].blocks[4:].parameters()} <= own
    shared = {id(p) for p in model.shared_parameters()}
    assert {id(p) for p in model.fusions["1"].parameters()} <= shared
    check_partition(model)
