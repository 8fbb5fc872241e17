"""The default dense head."""

from __future__ import annotations

from torch import Tensor, nn

from multitask.models.heads._base import register_head


def check_map(z: Tensor, head: str) -> None:
    if z.dim() != 4:
        raise ValueError(f"a {head!r} dense head expects [B, C, H, W] features, got {list(z.shape)}")


@register_head("conv")
class ConvHead(nn.Module):
    """``conv3x3(in → hidden) - BN - ReLU - conv1x1(hidden → out)`` at the feature resolution.

    The task-specific layers of MTAN's SegNet (Liu et al., CVPR 2019) are a 3x3 then a 1x1 conv;
    this adds BN and ReLU in between.

    Args:
        hidden: channels of the 3x3 layer (default: ``min(in_channels, 256)``).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = min(in_channels, 256) if hidden is None else hidden
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 1),
        )

    def forward(self, z: Tensor) -> Tensor:
        check_map(z, "conv")
        return self.net(z)


@register_head("segnet")
class SegNetHead(nn.Module):
    """MTAN's SegNet prediction layers: ``conv3x3(in → in) -> conv1x1(in → out)``, both with a bias and
    nothing in between (Liu, Johns, Davison, CVPR 2019; ``pred_task*`` in ``model_segnet_mtan.py``).

    The two convolutions compose to one linear map; the reference keeps both, and so does this head,
    so that parameter counts compare with the reference's.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=1), nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(self, z: Tensor) -> Tensor:
        check_map(z, "segnet")
        return self.net(z)
