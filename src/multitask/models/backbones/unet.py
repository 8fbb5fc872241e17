"""A small U-Net for the synthetic dense scenes."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multitask.models.backbones._base import ConvBackbone, register_backbone
from multitask.models.backbones._layers import check_width, conv_bn_relu


class _Down(nn.Module):
    """``[maxpool2, keeping the input as a skip] -> conv_layer -> conv_layer``; ``mid`` = first conv."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool) -> None:
        super().__init__()
        self.pool = pool
        self.first = conv_bn_relu(in_channels, out_channels)
        self.second = conv_bn_relu(out_channels, out_channels)

    def forward(self, h: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        if self.pool:
            ctx.setdefault("skips", []).append(h)
            h = F.max_pool2d(h, 2)
        mid = self.first(h)
        return mid, self.second(mid)


class _Up(nn.Module):
    """``bilinear upsample to the skip's size -> concat skip -> conv_layer -> conv_layer``."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.first = conv_bn_relu(in_channels + skip_channels, out_channels)
        self.second = conv_bn_relu(out_channels, out_channels)

    def forward(self, h: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        skip = ctx["skips"].pop()
        h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        mid = self.first(torch.cat([h, skip], dim=1))
        return mid, self.second(mid)


@register_backbone("unet")
class UNet(ConvBackbone):
    """A small U-Net returning full-resolution features.

    Ronneberger, Fischer, Brox. U-Net: Convolutional Networks for Biomedical Image Segmentation.
    MICCAI 2015. Here with ``depth`` poolings, channels ``w·2^i`` at level ``i``, each level two
    3x3 conv - BN - ReLU layers (padding keeps sizes), bilinear upsampling and skip concatenation.
    Sized for the toolkit's 64x64 synthetic scenes; any input whose side is >= 2^depth works.

    Args:
        in_channels: input channels.
        width: ``w``, channels of the first level (default 32; the original uses 64 with depth 4).
        depth: number of poolings (default 3; the original uses 4).

    Blocks: ``depth + 1`` down blocks, then ``depth`` up blocks. ``forward_stages`` returns the up
    blocks' outputs and the bottleneck: strides 1, 2, ..., 2^depth (finest first).
    """

    is_dense = True
    output_stride = 1

    def __init__(self, in_channels: int = 3, width: int = 32, depth: int = 3) -> None:
        super().__init__()
        w = check_width("unet", width)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"backbone 'unet': depth must be a positive int, got {depth!r}")
        self.in_channels = in_channels
        self.depth = depth
        ch = [w * 2**i for i in range(depth + 1)]
        down = [_Down(in_channels if i == 0 else ch[i - 1], ch[i], pool=i > 0) for i in range(depth + 1)]
        up = [_Up(ch[i + 1], ch[i], ch[i]) for i in range(depth - 1, -1, -1)]
        self.blocks = nn.ModuleList(down + up)
        self.block_channels = ch + [ch[i] for i in range(depth - 1, -1, -1)]
        self.block_mid_channels = list(self.block_channels)
        self.out_channels = w
        n = len(self.blocks)
        self.stage_blocks = tuple(range(n - 1, depth, -1)) + (depth,)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        if min(x.shape[-2:]) < 2**self.depth:
            raise ValueError(
                f"backbone 'unet' with depth={self.depth} needs inputs of at least {2**self.depth} pixels "
                f"per side, got {list(x.shape)}"
            )
