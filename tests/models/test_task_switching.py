import math

import pytest
import torch
import torch.nn.functional as F

import multitask as mt
from multitask.core.tasks import Task
from multitask.models.architectures._conditioning import (
    ConditionedLayer,
    MappingNetwork,
    pool_channels,
    task_codes,
)

BACKBONES = ["mlp", "lenet", "segnet", "resnet18", "unet"]
SMALL = {"code_dim": 8, "mapping_depth": 2, "decoder_channels": 8}
#: ResNet-18's coarsest map is 1x1 at the tests' 32x32 inputs: instance norm needs more pixels
NORM = {"resnet18": {"norm": "batch"}}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("task_switching", bb, config, **SMALL, **NORM.get(bb, {}))


@pytest.mark.parametrize("bb", ["mlp", "unet"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("task_switching", bb, "three", **SMALL)


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_size_does_not_grow_with_the_number_of_tasks():
    """One decoder, one output head, no per-task parameter: 1, 2 or 5 tasks, the same network."""
    same_max = [
        [Task("seg", "segmentation", 4)],
        [Task("seg", "segmentation", 4), Task("depth", "depth", 1)],
        [Task(f"t{i}", "segmentation", 4 - i % 3) for i in range(5)],
    ]
    kw = {"backbone": "unet", "backbone_kwargs": {"width": 4, "depth": 2}, **SMALL}
    sizes = {count(mt.create_model("task_switching", tasks=tasks, **kw)) for tasks in same_max}
    assert len(sizes) == 1
    # for comparison: hard parameter sharing grows by one head per task
    hps = [
        count(mt.create_model("hps", tasks=t, backbone="unet", backbone_kwargs=kw["backbone_kwargs"]))
        for t in same_max
    ]
    assert hps[0] < hps[1] < hps[2]


def test_task_codes_are_orthogonal_block_one_hot():
    codes = task_codes(5, 100)  # the TSN code's setting: 5 tasks, 20 ones each
    assert codes.sum(dim=1).tolist() == [20.0] * 5
    assert torch.equal(codes @ codes.T, 20.0 * torch.eye(5))
    assert codes[2, 40:60].eq(1).all() and codes[2, :40].eq(0).all()
    assert task_codes(3, 8).tolist()[1] == [0, 0, 1, 1, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="code_dim"):
        task_codes(9, 8)


def test_mapping_network_formula():
    """Pixel norm, then linear - LeakyReLU(0.2) layers."""
    torch.manual_seed(0)
    net = MappingNetwork(dim=6, depth=2)
    z = torch.randn(3, 6)
    h = z / torch.sqrt((z**2).mean(dim=1, keepdim=True) + 1e-8)
    for layer in (net.layers[0], net.layers[2]):
        h = F.leaky_relu(h @ layer.weight.T + layer.bias, 0.2)
    torch.testing.assert_close(net(z), h)


def test_conditioned_layer_formula():
    """LeakyReLU(γ(w) ⊙ IN(W h) + β(w)), (γ, β) = A w + b, b_γ = 1 at initialisation."""
    torch.manual_seed(0)
    block = ConditionedLayer(3, 2, kernel=3, latent_dim=4, norm="instance", spatial=True)
    assert block.style.bias[:2].eq(1).all() and block.style.bias[2:].eq(0).all()
    h, w = torch.randn(2, 3, 5, 5), torch.randn(4)
    y = F.conv2d(h, block.layer.weight, block.layer.bias, padding=1)
    mean, var = y.mean(dim=(2, 3), keepdim=True), y.var(dim=(2, 3), unbiased=False, keepdim=True)
    normed = (y - mean) / torch.sqrt(var + 1e-5)
    gb = block.style(w)
    expected = F.leaky_relu(gb[:2, None, None] * normed + gb[2:, None, None], 0.01)
    torch.testing.assert_close(block(h, w), expected)
    with pytest.raises(ValueError, match="more than one pixel"):
        block(torch.randn(2, 3, 1, 1), w)
    with pytest.raises(ValueError, match="norm must be one of"):
        ConditionedLayer(3, 2, 3, 4, "layer", True)


def test_channel_pooling_matches_the_reference_reduction():
    """The TSN code reduces its shared output with adaptive_avg_pool3d over (channels, H, W)."""
    torch.manual_seed(0)
    pred = torch.randn(2, 21, 4, 5)
    for k in (7, 3, 1):
        reference = F.adaptive_avg_pool3d(pred.unsqueeze(1), (k, 4, 5)).squeeze(1)
        torch.testing.assert_close(pool_channels(pred, k), reference)
    # bins overlap when k does not divide C: bin i averages channels floor(iC/k) .. ceil((i+1)C/k) - 1
    vec = torch.arange(4.0)[None]
    bins = [vec[0, math.floor(i * 4 / 3) : math.ceil((i + 1) * 4 / 3)].mean() for i in range(3)]
    torch.testing.assert_close(pool_channels(vec, 3), torch.stack(bins)[None])


def test_unet_decoder_with_a_conditioned_skip_at_every_scale(case_for):
    """Recompute one task's prediction from the encoder's scales and the conditioned layers."""
    case = case_for("unet")
    tasks = case.configs["three"]  # seg (3), depth (1), pose (2): shared output of 3 channels
    model = case.build("task_switching", tasks, **SMALL).eval()
    x, _ = case.batch(tasks)
    feats = model.backbone.forward_stages(x)
    assert len(model.skips) == len(feats) == 3 and len(model.up) == 2
    w = model.mapping(model.codes[1])  # depth
    h = model.skips[2](feats[2], w)
    for up, i in zip(model.up, (1, 0)):
        h = F.interpolate(h, size=feats[i].shape[-2:], mode="bilinear", align_corners=True)
        h = up(torch.cat([h, model.skips[i](feats[i], w)], dim=1), w)
    out = model.output(model.final(h, w))
    assert out.shape[1] == model.num_outputs == 3
    torch.testing.assert_close(model(x)["depth"], out.mean(dim=1, keepdim=True))
    w_pose = model.mapping(model.codes[2])
    h = model.skips[2](feats[2], w_pose)
    for up, i in zip(model.up, (1, 0)):
        h = F.interpolate(h, size=feats[i].shape[-2:], mode="bilinear", align_corners=True)
        h = up(torch.cat([h, model.skips[i](feats[i], w_pose)], dim=1), w_pose)
    pose = pool_channels(model.output(model.final(h, w_pose)).mean(dim=(2, 3)), 2)
    torch.testing.assert_close(model(x)["pose"], pose)


def test_one_task_per_forward(case_for):
    case = case_for("unet")
    tasks = case.configs["three"]
    model = case.build("task_switching", tasks, **SMALL).eval()
    x, _ = case.batch(tasks)
    every = model(x)
    for t in tasks:
        single = model(x, task=t.name)
        assert list(single) == [t.name]
        torch.testing.assert_close(single[t.name], every[t.name])
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        model(x, task="nope")


def test_the_task_code_alone_switches_the_network():
    """Two tasks of the same kind share every weight: swapping their codes swaps their outputs."""
    torch.manual_seed(0)
    tasks = [Task("a", "regression", 3), Task("b", "regression", 3)]
    model = mt.create_model("task_switching", backbone="mlp", tasks=tasks, in_channels=5, **SMALL).eval()
    x = torch.randn(4, 5)
    out = model(x)
    assert not torch.allclose(out["a"], out["b"])
    model.codes.copy_(model.codes.flip(0))
    swapped = model(x)
    torch.testing.assert_close(swapped["a"], out["b"])
    torch.testing.assert_close(swapped["b"], out["a"])


def test_partition_everything_is_shared(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("task_switching", tasks, **SMALL, norm="batch")
    assert not model.has_task_parameters and not model.has_shared_representation
    assert [id(p) for p in model.shared_parameters()] == [id(p) for p in model.parameters()]
    assert list(model.task_parameters("seg")) == []
    with pytest.raises(NotImplementedError, match="no single shared representation"):
        model.encode(case.batch(tasks)[0])


def test_errors(case_for):
    case = case_for("segnet")
    tasks = case.configs["two"]
    with pytest.raises(ValueError, match="task 'seg' is dense"):
        mt.create_model(
            "task_switching", backbone="mlp", tasks=[Task("seg", "segmentation", 2)], in_channels=3
        )
    with pytest.raises(ValueError, match="needs a backbone"):
        mt.create_model("task_switching", backbone=None, tasks=tasks)
    with pytest.raises(ValueError, match="mapping_depth"):
        case.build("task_switching", tasks, mapping_depth=0)
    with pytest.raises(ValueError, match="code_dim"):
        case.build("task_switching", tasks, code_dim=1)
    with pytest.raises(ValueError, match="needs 5 widths"):
        case.build("task_switching", tasks, decoder_channels=[8, 8])
    resnet = case_for("resnet18")
    model = resnet.build("task_switching", resnet.configs["two"], **SMALL)  # instance norm by default
    with pytest.raises(ValueError, match="instance norm needs maps of more than one pixel"):
        model(resnet.batch(resnet.configs["two"])[0])
