"""The backbone interface and the backbone registry.

A backbone is a sequence of *blocks* (``self.blocks``, an :class:`~torch.nn.ModuleList`). Each block is
called as ``block(h, ctx) -> (mid, out)``: ``out`` is the block's output, the input of the next block;
``mid`` is an intermediate feature at the same resolution as ``out`` (MTAN's attention reads it; blocks
without a natural one return ``out`` twice). ``ctx`` is a per-forward dict in which encoder–decoder
backbones keep what their decoder needs (pooling indices, skip features); a block only ever reads what
an earlier block of the same forward wrote.

This block view is what lets one architecture (cross-stitch, NDDR, MTAN, branched trees) work on every
backbone: it runs the blocks itself and acts on the features between them. All parameters of a backbone
live inside its blocks, so a block can be copied into a branch on its own.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from multitask._registry import Registry

BACKBONES: Registry[nn.Module] = Registry("backbone")
register_backbone = BACKBONES.register


def create_backbone(name: str, in_channels: int = 3, **kwargs: Any) -> Backbone:
    """Build a registered backbone, e.g. ``create_backbone("segnet", in_channels=3, width=16)``."""
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"backbone {name!r}: in_channels must be a positive int, got {in_channels!r}")
    return BACKBONES.create(name, in_channels=in_channels, **kwargs)  # type: ignore[return-value]


def list_backbones(pattern: str | None = None) -> list[str]:
    """Registered backbone names (optionally filtered by a glob pattern)."""
    return BACKBONES.names(pattern)


def new_context() -> dict[str, Any]:
    """A fresh per-forward context for :meth:`Backbone.run_block`."""
    return {}


def copy_context(ctx: dict[str, Any]) -> dict[str, Any]:
    """Copy a context for a branch: lists are copied (blocks pop from them), tensors are shared."""
    return {k: list(v) if isinstance(v, list) else v for k, v in ctx.items()}


class Backbone(nn.Module):
    """Base class of every backbone.

    Attributes:
        out_channels: channels (or features, for vector outputs) of ``forward(x)``.
        is_dense: True when ``forward`` returns a ``[B, C, H, W]`` map meant for dense heads.
        output_stride: input size / output size of the dense map (1 for full resolution).
        block_channels: output channels of each block.
        block_mid_channels: channels of each block's ``mid`` feature.
        blocks: the blocks, in order (see the module docstring).
        bottleneck_blocks: blocks whose input passes through a 2x max-pool and back inside the block,
            so their input and output share a resolution while the block sees a coarser one in between
            (SegNet's innermost decoder block); MTAN's handover pools and upsamples there too.
    """

    out_channels: int
    is_dense: bool
    output_stride: int = 1
    block_channels: list[int]
    block_mid_channels: list[int]
    blocks: nn.ModuleList
    bottleneck_blocks: tuple[int, ...] = ()

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def check_input(self, x: Tensor) -> None:
        """Raise a ValueError naming the backbone when ``x`` has the wrong shape."""

    def run_block(self, i: int, h: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """Run block ``i`` on ``h``; returns ``(mid, out)``."""
        return self.blocks[i](h, ctx)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        ctx = new_context()
        h = x
        for block in self.blocks:
            _, h = block(h, ctx)
        return h


class ConvBackbone(Backbone):
    """A convolutional backbone: adds multi-scale features for PAD-Net / MTI-Net.

    ``forward_stages(x)`` returns the outputs of the blocks listed in ``stage_blocks``, finest
    resolution first; ``stage_channels`` gives their channels.
    """

    in_channels: int
    stage_blocks: tuple[int, ...] = ()

    @property
    def stage_channels(self) -> list[int]:
        return [self.block_channels[i] for i in self.stage_blocks]

    def check_input(self, x: Tensor) -> None:
        name = getattr(type(self), "registry_name", type(self).__name__)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"backbone {name!r} expects input [B, {self.in_channels}, H, W], got {list(x.shape)}"
            )

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """Multi-scale features (outputs of ``stage_blocks``), finest resolution first."""
        self.check_input(x)
        ctx = new_context()
        h = x
        outs: dict[int, Tensor] = {}
        wanted = set(self.stage_blocks)
        for i, block in enumerate(self.blocks):
            _, h = block(h, ctx)
            if i in wanted:
                outs[i] = h
        return [outs[i] for i in self.stage_blocks]
