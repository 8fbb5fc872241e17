"""Small layers shared by the backbones."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn


def conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1, bias: bool = False
) -> nn.Sequential:
    """``Conv(k, same padding) -> BatchNorm -> ReLU``; the conv has no bias unless ``bias`` (BN's shift
    makes it redundant, but reference networks such as MTAN's SegNet keep it and count it)."""
    padding = dilation * (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=bias),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class LinearReLU(nn.Module):
    """One MLP block: ``Dropout(ReLU(Linear(h.flatten(1))))`` (dropout only when ``dropout > 0``)."""

    def __init__(self, in_features: int, out_features: int, dropout: float) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, h: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        out = self.drop(F.relu(self.fc(h.flatten(1))))
        return out, out


def check_width(name: str, width: int) -> int:
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"backbone {name!r}: width must be a positive int, got {width!r}")
    return width
