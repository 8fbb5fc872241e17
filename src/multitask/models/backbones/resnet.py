"""ResNet-18 / ResNet-50 (own code, torchvision-compatible parameter names), optionally dilated."""

from __future__ import annotations

import importlib
from typing import Any

from torch import Tensor, nn

from multitask.models.backbones._base import ConvBackbone, register_backbone
from multitask.models.backbones._layers import check_width


def _conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride, dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce - 3x3 (stride, dilation) - 1x1 expand (x4), with a shortcut (torchvision v1.5)."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class _Stage(nn.Module):
    """One ResNet layer (optionally preceded by the stem); ``mid`` = output of all but its last block."""

    def __init__(self, layer: nn.Sequential, stem: bool, in_channels: int, stem_width: int) -> None:
        super().__init__()
        self.stem = stem
        if stem:
            self.conv1 = nn.Conv2d(in_channels, stem_width, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(stem_width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer = layer

    def forward(self, h: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        if self.stem:
            h = self.maxpool(self.relu(self.bn1(self.conv1(h))))
        mid = self.layer[:-1](h)
        return mid, self.layer[-1](mid)


_CONFIGS = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet50": (Bottleneck, (3, 4, 6, 3))}


class ResNet(ConvBackbone):
    """Deep residual network without its classifier (a ``[B, C, H/s, W/s]`` feature map).

    He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. CVPR 2016. Dilation as in
    Chen et al., DeepLab (TPAMI 2018) and Yu & Koltun (ICLR 2016): ``dilated=True`` replaces the
    strides of layer3 and layer4 by dilation 2 and 4, giving output stride 8 instead of 32 (MTAN's and
    most dense MTL works' ResNet setting).

    Args:
        in_channels: input channels.
        width: channels of the stem and of layer1 (paper: 64); layer k has ``width·2^(k-1)·expansion``.
        dilated: output stride 8 instead of 32.
        pretrained: load ImageNet weights through torchvision or timm (needs one installed,
            ``width=64`` and ``in_channels=3``).

    Blocks: ``[stem + layer1, layer2, layer3, layer4]``; ``forward_stages`` returns their outputs
    (strides 4, 8, 16, 32, or 4, 8, 8, 8 when dilated).
    """

    is_dense = True
    stage_blocks = (0, 1, 2, 3)
    arch: str = ""

    def __init__(
        self, in_channels: int = 3, width: int = 64, dilated: bool = False, pretrained: bool = False
    ) -> None:
        super().__init__()
        block, layers = _CONFIGS[self.arch]
        w = check_width(self.arch, width)
        self.in_channels = in_channels
        self.dilated = bool(dilated)
        self._inplanes, self._dilation = w, 1
        stages = []
        for k, n in enumerate(layers):
            stride = 1 if k == 0 else 2
            dilate = self.dilated and k >= 2
            stages.append(
                _Stage(self._make_layer(block, w * 2**k, n, stride, dilate), k == 0, in_channels, w)
            )
        self.blocks = nn.ModuleList(stages)
        self.block_channels = [w * 2**k * block.expansion for k in range(4)]
        self.block_mid_channels = list(self.block_channels)
        self.out_channels = self.block_channels[-1]
        self.output_stride = 8 if self.dilated else 32
        self._init_weights()
        if pretrained:
            if w != 64 or in_channels != 3:
                raise ValueError(
                    f"backbone {self.arch!r}: pretrained weights need width=64 and in_channels=3, "
                    f"got width={w}, in_channels={in_channels}"
                )
            load_pretrained(self, self.arch)

    def _make_layer(self, block: type, planes: int, n: int, stride: int, dilate: bool) -> nn.Sequential:
        previous = self._dilation
        if dilate:
            self._dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self._inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        mods = [block(self._inplanes, planes, stride, previous, downsample)]
        self._inplanes = planes * block.expansion
        mods += [block(self._inplanes, planes, 1, self._dilation) for _ in range(1, n)]
        return nn.Sequential(*mods)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


@register_backbone("resnet18")
class ResNet18(ResNet):
    """ResNet-18 (BasicBlock, layers 2-2-2-2, 512 output channels at width 64). See :class:`ResNet`."""

    arch = "resnet18"


@register_backbone("resnet50")
class ResNet50(ResNet):
    """ResNet-50 (Bottleneck, layers 3-4-6-3, 2048 output channels at width 64). See :class:`ResNet`."""

    arch = "resnet50"


def torchvision_key(key: str) -> str | None:
    """Map a torchvision/timm ResNet parameter name to this module's name (None: not part of it)."""
    if key.startswith("fc."):
        return None
    if key.startswith(("conv1.", "bn1.")):
        return "blocks.0." + key
    if key.startswith("layer") and key[5:6].isdigit():
        k = int(key[5])
        return f"blocks.{k - 1}.layer" + key[6:]
    return None


def load_pretrained(model: ResNet, arch: str) -> None:
    """Copy ImageNet weights from torchvision (preferred) or timm into ``model``.

    Raises ImportError when neither is installed (install ``torchvision`` or ``timm``).
    """
    source = None
    for name in ("torchvision", "timm"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if name == "torchvision":
            reference = getattr(module.models, arch)(weights="DEFAULT")
        else:
            reference = module.create_model(arch, pretrained=True)
        source = reference.state_dict()
        break
    if source is None:
        raise ImportError(
            f"backbone {arch!r}: pretrained=True needs torchvision or timm to fetch ImageNet weights; "
            "install one of them (pip install torchvision) or use pretrained=False"
        )
    state = {}
    for key, value in source.items():
        mapped = torchvision_key(key)
        if mapped is not None:
            state[mapped] = value
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"backbone {arch!r}: pretrained weights do not match "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
