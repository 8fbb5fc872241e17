"""Heads for vector tasks (classification, binary, multilabel, regression)."""

from __future__ import annotations

from torch import Tensor, nn

from multitask.models.heads._base import register_head


def _pool(z: Tensor) -> Tensor:
    """Global-average-pool a ``[B, C, H, W]`` map to ``[B, C]``; vectors pass through."""
    if z.dim() == 4:
        return z.mean(dim=(2, 3))
    if z.dim() != 2:
        raise ValueError(f"a vector head expects [B, C] or [B, C, H, W] features, got {list(z.shape)}")
    return z


@register_head("linear")
class LinearHead(nn.Module):
    """``[global average pool] -> linear(in → out)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_channels, out_channels)

    def forward(self, z: Tensor) -> Tensor:
        return self.fc(_pool(z))


@register_head("mlp")
class MLPHead(nn.Module):
    """``[global average pool] -> linear(in → hidden) -> relu -> linear(hidden → out)``.

    The MultiMNIST task decoder of Sener & Koltun (NeurIPS 2018) is this head with ``hidden=50``.

    Args:
        hidden: width of the hidden layer (default 50, as in Sener & Koltun).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 50) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(), nn.Linear(hidden, out_channels))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(_pool(z))
