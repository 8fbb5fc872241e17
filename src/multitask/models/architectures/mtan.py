"""MTAN: a shared network plus per-task soft-attention modules at every block."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    as_map,
    build_backbone,
    build_heads,
    check_tasks,
    like,
    parameters_of,
    resize,
    to_size,
)
from multitask.models.backbones import new_context
from multitask.models.base import MultiTaskModel, register_model


def attention_layer(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    """MTAN's ``att_layer``: ``1x1 conv - BN - ReLU - 1x1 conv - BN - sigmoid``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 1),
        nn.BatchNorm2d(hidden),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, out_channels, 1),
        nn.BatchNorm2d(out_channels),
        nn.Sigmoid(),
    )


def transfer_layer(in_channels: int, out_channels: int) -> nn.Sequential:
    """MTAN's ``conv_layer`` between attention modules: ``3x3 conv - BN - ReLU``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


@register_model("mtan")
class MTAN(MultiTaskModel):
    """Multi-Task Attention Network.

    Liu, Johns, Davison. End-to-End Multi-Task Learning with Attention. CVPR 2019.

    A shared backbone runs once. For block ``i`` with intermediate feature ``u_i`` and output ``p_i``
    (see :mod:`multitask.models.backbones`), task ``t`` keeps an attended feature

    ``a_t^(0) = g_t^(0)(u_0) ⊙ p_0``,
    ``a_t^(i) = g_t^(i)([u_i ; f^(i)(a_t^(i-1))]) ⊙ p_i``,

    where ``g_t^(i)`` is a task-specific attention module (1x1 conv - BN - ReLU - 1x1 conv - BN -
    sigmoid, hidden width = ``p_i``'s channels) and ``f^(i)`` a 3x3 conv - BN - ReLU shared by all tasks
    (as in the paper) that maps to ``p_i``'s channels; ``f`` is applied before the paper's max-pooling
    (when the next block is coarser) or after its bilinear upsampling (when it is finer). Into a
    block that pools and unpools inside (the backbone's ``bottleneck_blocks``: SegNet's encoder ->
    decoder handover) the transfer is the reference's conv - max-pool - upsample - conv. Head ``t``
    reads ``a_t`` of the last block.

    On SegNet (5 encoder + 5 decoder blocks) this is the network of the authors' code
    (``lorenmt/mtan``, ``im2im_pred/model_segnet_mtan.py``): ``u`` is an encoder block's first conv
    layer output and a decoder block's unpooled input, so the decoder attention modules read
    ``[1024, 768, 384, 192, 128]`` channels at ``w = 64``; with the reference's prediction layers
    (``head="segnet"``) and NYUv2's 13-class segmentation, depth and normals it has 44,229,073
    parameters, the reference's printed 44,229,076 less its 3 uncertainty log-variances (those
    belong to the ``uw`` weighting here). On ResNet it is LibMTL's MTAN-ResNet (``u`` = all but the
    last residual block of a stage).

    Partition: backbone and the shared ``f`` layers are shared; attention modules and heads are
    task-specific. The shared features of all blocks feed every task, so there is no single shared
    representation (``has_shared_representation = False``).

    Args:
        tasks: the tasks.
        backbone: registered backbone name or a built backbone (shared).
        in_channels: input channels.
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        reduction: hidden width of the attention modules and output width of ``f`` are divided by
            this (paper: 1 on SegNet; LibMTL uses 4 with ResNet-50's bottlenecks).
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        reduction: int = 1,
    ) -> None:
        super().__init__(tasks)
        self.backbone = build_backbone(backbone, in_channels, backbone_kwargs)
        check_tasks(self.tasks, self.backbone, "mtan")
        if isinstance(reduction, bool) or not isinstance(reduction, int) or reduction < 1:
            raise ValueError(f"mtan: reduction must be a positive int, got {reduction!r}")
        mid, out = self.backbone.block_mid_channels, self.backbone.block_channels
        n = self.backbone.num_blocks
        carried = [max(out[i] // reduction, 1) for i in range(n)]  # channels of f^(i)(a^(i-1))
        handover = set(self.backbone.bottleneck_blocks)
        self.transfers = nn.ModuleList(
            nn.Sequential(
                transfer_layer(out[i - 1], max(out[i - 1] // reduction, 1)),
                transfer_layer(max(out[i - 1] // reduction, 1), carried[i]),
            )
            if i in handover
            else transfer_layer(out[i - 1], carried[i])
            for i in range(1, n)
        )
        self.attention = nn.ModuleList(
            nn.ModuleList(
                attention_layer(mid[i] + (carried[i] if i else 0), max(out[i] // reduction, 1), out[i])
                for i in range(n)
            )
            for _ in self.tasks
        )
        self.heads = build_heads(self.tasks, self.backbone.out_channels, head)

    def _shared_features(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        self.backbone.check_input(x)
        ctx, h = new_context(), x
        mids, outs = [], []
        for i in range(self.backbone.num_blocks):
            u, h = self.backbone.run_block(i, h, ctx)
            mids.append(u)
            outs.append(h)
        return mids, outs

    def _transfer(self, i: int, a: Tensor, ref: Tensor) -> Tensor:
        """``f^(i)`` plus resizing ``a`` to ``ref``'s resolution (conv before pooling, after upsampling;
        conv - pool - upsample - conv into a bottleneck block)."""
        ref_map, f = as_map(ref), self.transfers[i - 1]
        if i in self.backbone.bottleneck_blocks:
            return f[1](resize(F.max_pool2d(f[0](a), 2, 2), ref_map))
        if a.shape[-2] >= ref_map.shape[-2] and a.shape[-1] >= ref_map.shape[-1]:
            return resize(f(a), ref_map)
        return f(resize(a, ref_map))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        mids, outs = self._shared_features(x)
        size = x.shape[-2:]
        preds = {}
        for t, attention, head in zip(self.tasks, self.attention, self.heads):
            a = None
            for i, (u, p) in enumerate(zip(mids, outs)):
                u_map = as_map(u)
                inp = u_map if a is None else torch.cat([u_map, self._transfer(i, a, u)], dim=1)
                a = attention[i](inp) * as_map(p)
            preds[t.name] = to_size(t, head(like(a, outs[-1])), size)
        return preds

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return parameters_of([self.backbone, self.transfers])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        i = self.task_names.index(task)
        return parameters_of([self.attention[i], self.heads[i]])
