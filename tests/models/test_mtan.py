import pytest
import torch
import torch.nn.functional as F

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


NYUV2 = [mt.Task("seg", "segmentation", 13), mt.Task("depth", "depth", 1), mt.Task("normal", "normals", 3)]


def reference_segnet_mtan_parameters(classes: int = 13, outputs: tuple[int, ...] = (1, 3)) -> int:
    """The parameter count of lorenmt/mtan's ``model_segnet_mtan.py`` (3 tasks), re-derived layer by
    layer from its constructor (conv layers with biases, BN with weight and bias)."""
    f = [64, 128, 256, 512, 512]
    conv = lambda a, b, k=3: a * b * k * k + b  # noqa: E731
    layer = lambda a, b: conv(a, b) + 2 * b  # noqa: E731  conv_layer: conv3x3 - BN - ReLU
    att = lambda a, b, c: conv(a, b, 1) + 2 * b + conv(b, c, 1) + 2 * c  # noqa: E731
    shared = layer(3, f[0]) + layer(f[0], f[0])  # encoder_block[0], decoder_block[0]
    shared += sum(layer(f[i], f[i + 1]) + layer(f[i + 1], f[i]) for i in range(4))
    shared += layer(f[0], f[0]) * 2 + layer(f[1], f[1]) + layer(f[0], f[0])  # conv_block_enc/dec 0, 1
    shared += sum(2 * layer(f[i + 1], f[i + 1]) + 2 * layer(f[i], f[i]) for i in range(1, 4))
    transfers = layer(f[0], f[1]) + layer(f[0], f[0])  # encoder/decoder_block_att[0]
    transfers += sum(layer(f[i + 1], f[i + 2]) + layer(f[i + 1], f[i]) for i in range(3))
    transfers += 2 * layer(f[4], f[4])
    per_task = att(f[0], f[0], f[0]) + att(2 * f[0], f[0], f[0])
    per_task += sum(att(2 * f[i + 1], f[i + 1], f[i + 1]) for i in range(4))  # encoder_att
    per_task += sum(att(f[i + 1] + f[i], f[i], f[i]) for i in range(4))  # decoder_att
    heads = sum(conv(f[0], f[0]) + conv(f[0], c, 1) for c in (classes, *outputs))
    logsigma = 3  # the uncertainty weighting's log-variances, a parameter of the reference's model
    return shared + transfers + 3 * per_task + heads + logsigma


def test_segnet_mtan_has_the_reference_parameter_count():
    """44,229,076 is what the reference prints for its NYUv2 model; ours leaves out the 3 log-variances."""
    assert reference_segnet_mtan_parameters() == 44_229_076
    with torch.device("meta"):  # counts only: no allocation, no forward at full size
        model = mt.create_model("mtan", backbone="segnet", tasks=NYUV2, head="segnet")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model) == 44_229_076 - 3
    assert count(model.backbone) == 24_943_296
    decoder_inputs = [model.attention[0][i][0].in_channels for i in range(5, 10)]
    assert decoder_inputs == [1024, 768, 384, 192, 128]  # [unpooled input ; f(a)] as in the reference
    handover = model.transfers[4]  # conv(512->512) - pool - upsample - conv(512->512)
    assert [m.out_channels for m in handover.modules() if isinstance(m, torch.nn.Conv2d)] == [512, 512]


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


def test_segnet_mtan_formula_with_the_unpooled_input_and_the_handover(case_for):
    """Re-derive one task's attended decoder features by hand from the backbone's own tensors."""
    case = case_for("segnet")
    tasks = case.configs["two"]
    model = case.build("mtan", tasks).eval()
    x, _ = case.batch(tasks)
    b, att, tr = model.backbone, model.attention[0], model.transfers
    ctx, h, feats = {}, x, []
    for i in range(10):
        blk = b.blocks[i]
        if i < 5:
            if blk.pool:
                ctx.setdefault("sizes", []).append(h.shape[-2:])
                h, idx = F.max_pool2d(h, 2, 2, return_indices=True)
                ctx.setdefault("indices", []).append(idx)
            u = blk.first(h)
            h = blk.rest(u)
        else:
            if i == 5:
                size = h.shape[-2:]
                h, idx = F.max_pool2d(h, 2, 2, return_indices=True)
            else:
                idx, size = ctx["indices"].pop(), ctx["sizes"].pop()
            u = F.max_unpool2d(h, idx, 2, 2, output_size=list(size))  # the decoder's u: unpooled input
            h = blk.rest(blk.first(u))
        feats.append((u, h))
    a = att[0](feats[0][0]) * feats[0][1]
    for i in range(1, 10):
        u, p = feats[i]
        if i < 5:  # conv, then max-pool to the coarser block
            carried = F.adaptive_max_pool2d(tr[i - 1](a), u.shape[-2:])
        elif i == 5:  # handover: conv - pool - upsample - conv
            pooled = F.max_pool2d(tr[4][0](a), 2, 2)
            carried = tr[4][1](F.interpolate(pooled, size=u.shape[-2:], mode="bilinear", align_corners=True))
        else:  # upsample, then conv
            carried = tr[i - 1](F.interpolate(a, size=u.shape[-2:], mode="bilinear", align_corners=True))
        a = att[i](torch.cat([u, carried], dim=1)) * p
    torch.testing.assert_close(model(x)["seg"], model.heads[0](a))


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
