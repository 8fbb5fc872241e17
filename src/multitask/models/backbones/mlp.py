"""A multi-layer perceptron for tabular tasks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from multitask.models.backbones._base import Backbone, register_backbone
from multitask.models.backbones._layers import LinearReLU


@register_backbone("mlp")
class MLP(Backbone):
    """Fully connected encoder: ``(linear -> relu -> [dropout]) x len(hidden)``.

    Args:
        in_channels: number of input features when ``in_features`` is not given.
        in_features: number of input features (inputs ``[B, F]``; larger inputs are flattened).
        hidden: widths of the hidden layers; the last one is ``out_channels``.
        dropout: dropout probability after each layer (0 disables it).
    """

    is_dense = False
    output_stride = 1

    def __init__(
        self,
        in_channels: int = 3,
        in_features: int | None = None,
        hidden: Sequence[int] = (64, 64),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_features = in_channels if in_features is None else in_features
        hidden = list(hidden)
        if isinstance(in_features, bool) or not isinstance(in_features, int) or in_features < 1:
            raise ValueError(f"backbone 'mlp': in_features must be a positive int, got {in_features!r}")
        if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(
                f"backbone 'mlp': hidden must be a non-empty list of positive ints, got {hidden}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"backbone 'mlp': dropout must be in [0, 1), got {dropout}")
        self.in_features = in_features
        widths = [in_features, *hidden]
        self.blocks = nn.ModuleList(LinearReLU(a, b, dropout) for a, b in zip(widths[:-1], widths[1:]))
        self.out_channels = hidden[-1]
        self.block_channels = list(hidden)
        self.block_mid_channels = list(hidden)

    def check_input(self, x: Tensor) -> None:
        if x.dim() < 2 or x[0].numel() != self.in_features:
            raise ValueError(f"backbone 'mlp' expects input [B, {self.in_features}], got {list(x.shape)}")
