import sys
import types

import pytest
import torch
import torch.nn.functional as F

from multitask.models.backbones import Backbone, create_backbone, list_backbones, new_context
from multitask.models.backbones.resnet import torchvision_key

torch.manual_seed(0)

SMALL = {
    "lenet": ({"in_channels": 1}, (2, 1, 28, 28)),
    "segnet": ({"width": 4}, (2, 3, 32, 32)),
    "resnet18": ({"width": 4}, (2, 3, 32, 32)),
    "resnet50": ({"width": 2, "dilated": True}, (2, 3, 32, 32)),
    "unet": ({"width": 4, "depth": 2}, (2, 3, 16, 16)),
    "mlp": ({"in_channels": 5, "hidden": (8, 6)}, (2, 5)),
}


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_registry_lists_all_backbones():
    assert set(list_backbones()) >= {"lenet", "segnet", "resnet18", "resnet50", "unet", "mlp"}
    assert list_backbones("resnet*") == ["resnet18", "resnet50"]
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        create_backbone("vgg")
    with pytest.raises(ValueError, match="in_channels"):
        create_backbone("unet", in_channels=0)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_block_view_reproduces_forward_and_owns_all_parameters(name):
    torch.manual_seed(0)
    kwargs, shape = SMALL[name]
    b = create_backbone(name, **kwargs).eval()
    assert isinstance(b, Backbone)
    x = torch.randn(*shape)
    ctx, h = new_context(), x
    for i in range(b.num_blocks):
        mid, h = b.run_block(i, h, ctx)
        assert h.shape[1] == b.block_channels[i] and mid.shape[1] == b.block_mid_channels[i]
        assert mid.shape[2:] == h.shape[2:]
    torch.testing.assert_close(h, b(x))
    assert h.shape[1] == b.out_channels
    in_blocks = {id(p) for p in b.blocks.parameters()}
    assert in_blocks == {id(p) for p in b.parameters()}
    # gradients reach every parameter
    b.train()
    b(x).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in b.parameters())


@pytest.mark.parametrize("name", ["lenet", "segnet", "resnet18", "resnet50", "unet"])
def test_forward_stages_finest_first(name):
    kwargs, shape = SMALL[name]
    b = create_backbone(name, **kwargs).eval()
    stages = b.forward_stages(torch.randn(*shape))
    assert [s.shape[1] for s in stages] == b.stage_channels
    sides = [s.shape[-1] for s in stages]
    assert sides == sorted(sides, reverse=True)


@pytest.mark.parametrize("name", ["lenet", "segnet", "resnet18", "unet"])
def test_wrong_input_channels_name_the_backbone(name):
    kwargs, shape = SMALL[name]
    b = create_backbone(name, **kwargs)
    bad = torch.randn(shape[0], shape[1] + 1, *shape[2:])
    with pytest.raises(ValueError, match=f"backbone '{name}'"):
        b(bad)


def _sener_koltun_lenet(x, b):
    """Reference: MultiLeNetR.forward of Sener & Koltun's code, written with functional ops."""
    c1, c2, fc = b.blocks[0].conv, b.blocks[1].conv, b.blocks[2].fc
    h = F.relu(F.max_pool2d(F.conv2d(x, c1.weight, c1.bias), 2))
    h = F.relu(F.max_pool2d(F.conv2d(h, c2.weight, c2.bias), 2))
    return F.relu(F.linear(h.flatten(1), fc.weight, fc.bias))


@pytest.mark.parametrize("size,flat", [(28, 320), (36, 720)])
def test_lenet_matches_sener_koltun(size, flat):
    b = create_backbone("lenet", in_channels=1, input_size=size).eval()
    # conv1 1*10*25+10, conv2 10*20*25+20, fc flat*50+50
    assert n_params(b) == 260 + 5020 + flat * 50 + 50
    x = torch.randn(3, 1, size, size)
    torch.testing.assert_close(b(x), _sener_koltun_lenet(x, b))
    assert b(x).shape == (3, 50) and not b.is_dense
    with pytest.raises(ValueError, match="input_size"):
        b(torch.randn(3, 1, size + 8, size + 8))


def test_lenet_dropout_is_active_in_training_only():
    b = create_backbone("lenet", in_channels=1)
    x = torch.randn(4, 1, 28, 28)
    b.train()
    assert not torch.equal(b(x), b(x))
    b.eval()
    assert torch.equal(b(x), b(x))


def test_segnet_is_vgg16_sized_and_full_resolution():
    b = create_backbone("segnet", width=64)
    convs = [m for m in b.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 26 and all(c.kernel_size == (3, 3) for c in convs)
    encoder = b.blocks[:5]
    # VGG-16's 13 conv layers hold 14,714,688 parameters with biases; MTAN's SegNet keeps the biases
    # and adds BN (2 x 4,224 channels)
    assert n_params(encoder) == 14_714_688 + 2 * 4_224
    assert n_params(b) == 24_943_296  # the shared network of lorenmt/mtan's model_segnet_mtan.py
    small = create_backbone("segnet", width=4)
    for shape in [(1, 3, 32, 32), (1, 3, 40, 36)]:
        out = small.eval()(torch.randn(*shape))
        assert out.shape == (1, 4, *shape[2:])
    assert small.output_stride == 1 and small.is_dense
    with pytest.raises(ValueError, match="at least 32x32"):
        small(torch.randn(1, 3, 16, 16))


def test_segnet_unpooling_restores_the_max_positions():
    """Each decoder block's ``mid`` is its unpooled input: the input's values at the positions of the
    matching encoder max-pool's maxima, zeros elsewhere (nearest upsampling would fill every pixel)."""
    b = create_backbone("segnet", width=4).eval()
    ctx = new_context()
    h = torch.randn(1, 3, 32, 32)
    outs, mids = [], []
    with torch.no_grad():
        for i in range(10):
            mid, h = b.run_block(i, h, ctx)
            mids.append(mid)
            outs.append(h)
    assert ctx["indices"] == [] and h.shape == (1, 4, 32, 32)
    for i in range(5, 10):
        pooled_from = outs[9 - i]  # block 5 pools its own input; block i > 5 the encoder's level 9 - i
        d = F.max_pool2d(outs[4], 2) if i == 5 else outs[i - 1]
        bsz, c, hh, ww = pooled_from.shape
        windows = pooled_from.unfold(2, 2, 2).unfold(3, 2, 2).reshape(bsz, c, hh // 2, ww // 2, 4)
        first_max = F.one_hot(windows.argmax(-1), 4).to(d.dtype)  # first maximum in row-major order
        placed = (first_max * d[..., None]).reshape(bsz, c, hh // 2, ww // 2, 2, 2)
        expected = placed.permute(0, 1, 2, 4, 3, 5).reshape(bsz, c, hh, ww)
        assert int((mids[i] != 0).sum()) <= mids[i].numel() // 4 < int((mids[i] != 0).sum()) * 4
        torch.testing.assert_close(mids[i], expected, rtol=0, atol=0)


@pytest.mark.parametrize("name,expected", [("resnet18", 11_176_512), ("resnet50", 23_508_032)])
def test_resnet_sizes_match_torchvision(name, expected):
    # torchvision: resnet18 11,689,512 and resnet50 25,557,032 parameters, minus the 1000-way fc
    b = create_backbone(name)
    assert n_params(b) == expected
    assert b.out_channels == (512 if name == "resnet18" else 2048)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnet_dilation_changes_stride_not_parameters(name):
    plain = create_backbone(name, width=4).eval()
    dil = create_backbone(name, width=4, dilated=True).eval()
    assert n_params(plain) == n_params(dil)
    x = torch.randn(1, 3, 64, 64)
    assert plain(x).shape[-2:] == (2, 2) and plain.output_stride == 32
    assert dil(x).shape[-2:] == (8, 8) and dil.output_stride == 8
    assert [s.shape[-1] for s in dil.forward_stages(x)] == [16, 8, 8, 8]
    convs = [m for m in dil.blocks[3].modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert {c.dilation for c in convs} == {(2, 2), (4, 4)}  # first block keeps the previous dilation


def test_resnet_pretrained_needs_torchvision_or_timm(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ImportError, match="torchvision or timm"):
        create_backbone("resnet18", pretrained=True)
    with pytest.raises(ValueError, match="width=64"):
        create_backbone("resnet18", width=32, pretrained=True)


def test_resnet_pretrained_loads_torchvision_state_dict(monkeypatch):
    torch.manual_seed(1)
    source = create_backbone("resnet18")
    inverse = {torchvision_key(k): k for k in _torchvision_names(source)}
    state = {inverse[k]: v.clone() for k, v in source.state_dict().items()}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    calls = []

    def resnet18(weights=None):
        calls.append(weights)
        return types.SimpleNamespace(state_dict=lambda: state)

    fake = types.ModuleType("torchvision")
    fake.models = types.SimpleNamespace(resnet18=resnet18)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    loaded = create_backbone("resnet18", pretrained=True)
    assert calls == ["DEFAULT"]
    for (k, a), b in zip(loaded.state_dict().items(), source.state_dict().values()):
        assert torch.equal(a, b), k


def _torchvision_names(model):
    """Reverse of torchvision_key: this module's names -> torchvision's (checked by the round trip)."""
    names = []
    for k in model.state_dict():
        parts = k.split(".")
        i = int(parts[1])
        if parts[2] == "layer":
            tv = f"layer{i + 1}." + ".".join(parts[3:])
        else:
            tv = ".".join(parts[2:])
        assert torchvision_key(tv) == k
        names.append(tv)
    return names


def test_unet_shapes():
    b = create_backbone("unet", width=8).eval()
    x = torch.randn(2, 3, 64, 64)
    assert b(x).shape == (2, 8, 64, 64)
    assert [tuple(s.shape[1:]) for s in b.forward_stages(x)] == [
        (8, 64, 64),
        (16, 32, 32),
        (32, 16, 16),
        (64, 8, 8),
    ]
    assert b.stage_channels == [8, 16, 32, 64]
    odd = b(torch.randn(1, 3, 20, 28))
    assert odd.shape == (1, 8, 20, 28)


def test_mlp_shapes_and_validation():
    b = create_backbone("mlp", in_features=7, hidden=(16, 4)).eval()
    assert b(torch.randn(3, 7)).shape == (3, 4) and b.out_channels == 4 and not b.is_dense
    assert create_backbone("mlp", in_channels=9).in_features == 9
    assert n_params(b) == 7 * 16 + 16 + 16 * 4 + 4
    with pytest.raises(ValueError, match="backbone 'mlp' expects input"):
        b(torch.randn(3, 8))
    with pytest.raises(ValueError, match="hidden"):
        create_backbone("mlp", in_features=3, hidden=())
