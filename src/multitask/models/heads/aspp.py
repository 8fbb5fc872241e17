"""A light ASPP (DeepLab-v3) dense head."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multitask.models.heads._base import register_head
from multitask.models.heads.conv import check_map


def _branch(cin: int, cout: int, kernel: int, dilation: int) -> nn.Sequential:
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


@register_head("aspp")
class ASPPHead(nn.Module):
    """Atrous Spatial Pyramid Pooling head.

    Chen, Papandreou, Schroff, Adam. Rethinking Atrous Convolution for Semantic Image Segmentation
    (DeepLab-v3). arXiv 1706.05587, 2017.

    Parallel branches on the features ``z``: a 1x1 conv, one 3x3 conv per dilation ``r`` in ``rates``
    and image pooling (global average -> 1x1 conv -> ReLU -> broadcast back), each with ``channels``
    outputs; concatenated, projected by ``1x1 conv - BN - ReLU`` and mapped to the outputs by a 1x1
    conv. The paper uses 256 channels and rates (6, 12, 18) at output stride 16, (12, 24, 36) at 8;
    "light" here means 128 channels by default and no DeepLab-v3+ decoder. The pooling branch has no
    BN (so that batches of one train).

    Args:
        channels: channels of each branch and of the projection (default 128).
        rates: dilation rates of the 3x3 branches (default (6, 12, 18)).
        dropout: dropout after the projection (paper: 0.1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: int = 128,
        rates: Sequence[int] = (6, 12, 18),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList([_branch(in_channels, channels, 1, 1)])
        self.branches.extend(_branch(in_channels, channels, 3, int(r)) for r in rates)
        self.pool_conv = nn.Conv2d(in_channels, channels, 1)
        n = len(self.branches) + 1
        self.project = nn.Sequential(
            nn.Conv2d(n * channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.classifier = nn.Conv2d(channels, out_channels, 1)

    def forward(self, z: Tensor) -> Tensor:
        check_map(z, "aspp")
        outs = [branch(z) for branch in self.branches]
        pooled = F.relu(self.pool_conv(z.mean(dim=(2, 3), keepdim=True)))
        outs.append(pooled.expand(-1, -1, *z.shape[-2:]))
        return self.classifier(self.project(torch.cat(outs, dim=1)))
