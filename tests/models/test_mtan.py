import pytest
import torch

import multitask as mt
from multitask.models.backbones import create_backbone

BACKBONES = ["lenet", "mlp", "segnet", "resnet18", "resnet50", "unet"]


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("mtan", bb, config)


@pytest.mark.parametrize("bb", BACKBONES)
def test_training_lowers_loss(bb, check_architecture_training):
    # ten sigmoid-gated blocks on SegNet learn more slowly: a few more steps
    check_architecture_training("mtan", bb, "two", steps=12)


def test_segnet_mtan_has_the_papers_modules(case_for):
    case = case_for("segnet")
    tasks = case.configs["three"]
    model = case.build("mtan", tasks)
    assert len(model.transfers) == 9  # shared f between the 10 blocks (5 encoder + 5 decoder)
    assert [len(a) for a in model.attention] == [10, 10, 10]
    first, second = model.attention[0][0], model.attention[0][1]
    assert first[0].in_channels == 4 and second[0].in_channels == 2 * 8  # [u ; f(a)] from block 1 on
    assert isinstance(first[-1], torch.nn.Sigmoid)
    shared = {id(p) for p in model.shared_parameters()}
    assert {id(p) for p in model.transfers.parameters()} <= shared
    assert not {id(p) for p in model.attention.parameters()} & shared


def test_formula_by_hand_on_an_mlp():
    torch.manual_seed(0)
    tasks = [mt.Task("r", "regression", 2)]
    model = mt.create_model(
        "mtan", backbone="mlp", tasks=tasks, backbone_kwargs={"in_features": 5, "hidden": (6, 4)}
    )
    model.eval()
    x = torch.randn(3, 5)
    b, att, f = model.backbone, model.attention[0], model.transfers[0]
    p0 = torch.relu(b.blocks[0].fc(x))
    p1 = torch.relu(b.blocks[1].fc(p0))
    as_map = lambda v: v[:, :, None, None]  # noqa: E731
    a0 = att[0](as_map(p0)) * as_map(p0)  # u = p for MLP blocks
    a1 = att[1](torch.cat([as_map(p1), f(a0)], dim=1)) * as_map(p1)
    torch.testing.assert_close(model(x)["r"], model.heads[0](a1.flatten(1)))


def test_open_attention_reduces_to_hard_sharing(case_for):
    """Masks saturated at 1 pass the shared features through: MTAN = hps on the same weights."""
    case = case_for("segnet")
    tasks = case.configs["two"]
    torch.manual_seed(0)
    backbone = create_backbone("segnet", width=4)
    model = mt.create_model("mtan", backbone=backbone, tasks=tasks).eval()
    for modules in model.attention:
        for att in modules:
            with torch.no_grad():
                att[4].bias.fill_(50.0)  # BN bias before the sigmoid
    hps = mt.create_model("hps", backbone=backbone, tasks=tasks).eval()
    hps.heads.load_state_dict(model.heads.state_dict())
    x, _ = case.batch(tasks)
    a, b = model(x), hps(x)
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_reduction_shrinks_attention(case_for):
    case = case_for("resnet50")
    tasks = case.configs["two"]
    full = case.build("mtan", tasks)
    small = case.build("mtan", tasks, reduction=4)
    count = lambda m: sum(p.numel() for p in m.attention.parameters())  # noqa: E731
    assert count(small) < count(full)
    with pytest.raises(ValueError, match="reduction"):
        case.build("mtan", tasks, reduction=0)
