"""The SegNet encoder–decoder used by MTAN on NYUv2 / Cityscapes."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from multitask.models.backbones._base import ConvBackbone, register_backbone
from multitask.models.backbones._layers import check_width, conv_bn_relu


def _conv_layer(in_channels: int, out_channels: int) -> nn.Sequential:
    """MTAN's ``conv_layer``: 3x3 conv (with bias, as in the reference) - BN - ReLU."""
    return conv_bn_relu(in_channels, out_channels, bias=True)


class _EncoderBlock(nn.Module):
    """``[maxpool2 (indices kept)] -> conv_layer -> conv_layer x n``; ``mid`` = first conv_layer output."""

    def __init__(self, in_channels: int, out_channels: int, n_extra: int, pool: bool) -> None:
        super().__init__()
        self.pool = pool
        self.first = _conv_layer(in_channels, out_channels)
        self.rest = nn.Sequential(*[_conv_layer(out_channels, out_channels) for _ in range(n_extra)])

    def forward(self, h: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        if self.pool:
            ctx.setdefault("sizes", []).append(tuple(h.shape[-2:]))
            h, idx = F.max_pool2d(h, 2, 2, return_indices=True)
            ctx.setdefault("indices", []).append(idx)
        mid = self.first(h)
        return mid, self.rest(mid)


class _DecoderBlock(nn.Module):
    """``unpool2 (with the encoder's indices) -> conv_layer -> conv_layer x n``; ``mid`` = the unpooled
    input (what MTAN's decoder attention reads).

    The innermost decoder block first applies the encoder's last max-pool and unpools it at once
    (SegNet's fifth pool/unpool pair).
    """

    def __init__(self, in_channels: int, out_channels: int, n_extra: int, innermost: bool) -> None:
        super().__init__()
        self.innermost = innermost
        self.first = _conv_layer(in_channels, out_channels)
        self.rest = nn.Sequential(*[_conv_layer(out_channels, out_channels) for _ in range(n_extra)])

    def forward(self, h: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        if self.innermost:
            size = tuple(h.shape[-2:])
            h, idx = F.max_pool2d(h, 2, 2, return_indices=True)
        else:
            idx, size = ctx["indices"].pop(), ctx["sizes"].pop()
        h = F.max_unpool2d(h, idx, 2, 2, output_size=list(size))
        return h, self.rest(self.first(h))


@register_backbone("segnet")
class SegNet(ConvBackbone):
    """SegNet encoder–decoder as used by MTAN, returning full-resolution features.

    Badrinarayanan, Kendall, Cipolla. SegNet: A Deep Convolutional Encoder-Decoder Architecture for
    Image Segmentation. TPAMI 2017; in the form of Liu, Johns, Davison. End-to-End Multi-Task Learning
    with Attention. CVPR 2019 (``model_segnet_*.py``).

    Filters ``f = [w, 2w, 4w, 8w, 8w]`` (paper: ``w = 64``). Encoder level ``i``: (max-pool with
    indices for ``i > 0``) then ``conv_layer(f[i-1]→f[i])`` and one (``i < 2``) or two more
    ``conv_layer(f[i]→f[i])``, each ``conv_layer`` = 3x3 conv (with a bias, as in MTAN's code) - BN -
    ReLU. A fifth max-pool follows the encoder. The decoder mirrors it: max-unpool with the stored
    indices, ``conv_layer(f[i]→f[i-1])`` and one or two more. Output: ``[B, w, H, W]`` at the input
    resolution; any H, W >= 32 works. At ``w = 64`` it has 24,943,296 parameters, the shared part of
    MTAN's ``model_segnet_mtan.py``.

    Args:
        in_channels: input channels.
        width: ``w``, the channels of the first level (paper: 64; use 4-8 in tests).

    Blocks: 5 encoder blocks then 5 decoder blocks (10 in all). An encoder block's ``mid`` is its
    first conv layer's output, a decoder block's its unpooled input (as MTAN's attention reads them).
    Block 5, the innermost decoder block, runs the fifth pool/unpool pair inside
    (``bottleneck_blocks = (5,)``). ``forward_stages`` returns the decoder's outputs at 1, 1/2, 1/4, 1/8
    and 1/16 of the input size (finest first).
    """

    is_dense = True
    output_stride = 1
    stage_blocks = (9, 8, 7, 6, 5)
    bottleneck_blocks = (5,)

    def __init__(self, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        w = check_width("segnet", width)
        f = [w, 2 * w, 4 * w, 8 * w, 8 * w]
        self.in_channels = in_channels
        enc = [
            _EncoderBlock(in_channels if i == 0 else f[i - 1], f[i], 1 if i < 2 else 2, i > 0)
            for i in range(5)
        ]
        dec = []
        for level in range(4, -1, -1):
            out = f[max(level - 1, 0)]
            dec.append(_DecoderBlock(f[level], out, 1 if level < 2 else 2, innermost=level == 4))
        self.blocks = nn.ModuleList(enc + dec)
        self.block_channels = f + [f[max(level - 1, 0)] for level in range(4, -1, -1)]
        self.block_mid_channels = f + [f[level] for level in range(4, -1, -1)]
        self.out_channels = w

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        if min(x.shape[-2:]) < 32:
            raise ValueError(
                f"backbone 'segnet' needs inputs of at least 32x32 (5 poolings), got {list(x.shape)}"
            )
