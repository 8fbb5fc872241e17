"""The LeNet-style MultiMNIST encoder of Sener & Koltun."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from multitask.models.backbones._base import ConvBackbone, register_backbone


class _ConvPool(nn.Module):
    """``conv(k5) -> [dropout2d] -> maxpool(2) -> relu``; ``mid`` is ``out``."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float | None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=5)
        self.drop = nn.Dropout2d(dropout) if dropout else nn.Identity()

    def forward(self, h: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        out = F.relu(F.max_pool2d(self.drop(self.conv(h)), 2))
        return out, out


class _FlattenLinear(nn.Module):
    """``flatten -> linear -> relu``; ``mid`` is ``out``."""

    def __init__(self, in_features: int, out_features: int, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.input_size = input_size

    def forward(self, h: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        flat = h.flatten(1)
        if flat.shape[1] != self.fc.in_features:
            raise ValueError(
                f"backbone 'lenet' was built for input_size={self.input_size} ({self.fc.in_features} "
                f"features before the linear layer) but got {flat.shape[1]}; pass the matching input_size"
            )
        out = F.relu(self.fc(flat))
        return out, out


@register_backbone("lenet")
class LeNet(ConvBackbone):
    """LeNet encoder used for MultiMNIST.

    Sener & Koltun. Multi-Task Learning as Multi-Objective Optimization. NeurIPS 2018 (the
    ``MultiLeNetR`` encoder of their code).

    ``conv(in→10, k5) - maxpool2 - relu - conv(10→20, k5) - dropout2d(p) - maxpool2 - relu - flatten
    - linear(→50) - relu``. A 28x28 input gives 20·4·4 = 320 features before the linear layer, a 36x36
    input 20·6·6 = 720.

    Args:
        in_channels: input channels (1 for MultiMNIST).
        input_size: spatial input size (int or ``(H, W)``), 28 for MultiMNIST, 36 for the 36x36 variant.
        out_features: size of the output vector (paper: 50).
        dropout: Dropout2d probability after the second convolution (paper: 0.5).

    Blocks: ``[conv1 block (10 ch), conv2 block (20 ch), linear block (50)]``; ``forward_stages``
    returns the two convolutional maps.
    """

    is_dense = False
    output_stride = 1
    stage_blocks = (0, 1)

    def __init__(
        self,
        in_channels: int = 1,
        input_size: int | tuple[int, int] = 28,
        out_features: int = 50,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        if len(size) != 2 or any(not isinstance(s, int) for s in size):
            raise ValueError(f"backbone 'lenet': input_size must be an int or (H, W), got {input_size!r}")
        spatial = [((s - 4) // 2 - 4) // 2 for s in size]
        if min(spatial) < 1:
            raise ValueError(f"backbone 'lenet': input_size {input_size!r} is too small (needs >= 16)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"backbone 'lenet': dropout must be in [0, 1), got {dropout}")
        self.in_channels = in_channels
        self.input_size = size
        self.out_channels = out_features
        self.blocks = nn.ModuleList(
            [
                _ConvPool(in_channels, 10, None),
                _ConvPool(10, 20, dropout),
                _FlattenLinear(20 * spatial[0] * spatial[1], out_features, size),
            ]
        )
        self.block_channels = [10, 20, out_features]
        self.block_mid_channels = list(self.block_channels)
