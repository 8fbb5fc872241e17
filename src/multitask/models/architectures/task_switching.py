"""Task-switching network: one decoder for all tasks, conditioned on a learned task embedding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._experts import build_backbone, is_spatial
from multitask.models.architectures._ownership import (
    TaskOwnedModel,
    check_in_channels,
    check_positive,
    finish_prediction,
    head_kinds,
)
from multitask.models.base import register_model
from multitask.models.heads import create_head


class FiLMBlock(nn.Module):
    """``relu(γ ⊙ BN(W h) + β)`` with ``(γ, β)`` generated from the task embedding ``e``::

    γ = 1 + A_γ e,   β = A_β e      (FiLM: Perez et al., AAAI 2018)

    The batch norm has no affine part of its own (FiLM replaces it). ``W`` is a 3x3 conv on maps or a
    linear layer on vectors; ``A`` is shared by all tasks.
    """

    def __init__(self, in_channels: int, out_channels: int, embedding_dim: int, spatial: bool) -> None:
        super().__init__()
        if spatial:
            self.layer: nn.Module = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
            self.norm: nn.Module = nn.BatchNorm2d(out_channels, affine=False)
        else:
            self.layer = nn.Linear(in_channels, out_channels, bias=False)
            self.norm = nn.BatchNorm1d(out_channels, affine=False)
        self.film = nn.Linear(embedding_dim, 2 * out_channels)

    def forward(self, h: Tensor, embedding: Tensor) -> Tensor:
        gamma, beta = self.film(embedding).chunk(2, dim=-1)
        out = self.norm(self.layer(h))
        shape = (1, -1) + (1,) * (out.dim() - 2)
        return F.relu((1.0 + gamma).reshape(shape) * out + beta.reshape(shape))


@register_model("task_switching")
class TaskSwitchingNetwork(TaskOwnedModel):
    """Task-switching network: a single encoder-decoder executes one task per forward.

    Sun, Probst, Paudel, Popović, Kanakis, Patel, Dai, Van Gool. Task Switching Network for Multi-task
    Learning. ICCV 2021.

    The encoder (backbone) and the decoder are shared by all tasks; the decoder is switched between
    tasks by a task embedding. Task t owns a learned embedding ``eₜ ∈ ℝᵈ``; each decoder block is
    modulated by it (FiLM-conditioned batch norm)::

        h₀ = z = backbone(x),   hᵢ = relu((1 + A_γ,ᵢ eₜ) ⊙ BN(Wᵢ hᵢ₋₁) + A_β,ᵢ eₜ),   ŷₜ = headₜ(h_D)

    The paper derives the embedding from a fixed one-hot task code by a small shared network and
    modulates the decoder with AdaIN; here the embedding is learned directly (equivalent for a linear
    first layer) and batch norm replaces instance norm, which degenerates on the coarse maps of strided
    backbones. Heads are per task because task outputs differ in kind and size.

    ``model(x)`` runs every task: the encoder once and the decoder once per task;
    ``model(x, task=name)`` runs just that task and returns ``{name: prediction}``.

    Args:
        tasks: the tasks; each owns its embedding and its head.
        backbone: a registered backbone name or module (conv backbones give a conv decoder, vector
            backbones such as ``mlp``/``lenet`` an MLP decoder).
        in_channels: input channels (images) or features (vectors).
        embedding_dim: d (toolkit default 64).
        decoder_channels: width of the decoder blocks (toolkit default 64).
        decoder_depth: number of FiLM-modulated blocks (toolkit default 2).
        head: head kind for all tasks or a ``{task: kind}`` mapping (``create_head``).
        backbone_kwargs: extra arguments of ``create_backbone``.

    Parameters: backbone, decoder and FiLM generators ``A`` are shared; each task owns ``eₜ`` and its
    head. ``has_shared_representation`` is False: the shared decoder acts after the backbone and
    differs per task, so no single representation separates the shared parameters from the task
    ones; a trainer uses parameters mode.
    """

    _task_containers: ClassVar[tuple[str, ...]] = ("embeddings", "heads")

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: str | nn.Module,
        in_channels: int = 3,
        embedding_dim: int = 64,
        decoder_channels: int = 64,
        decoder_depth: int = 2,
        head: str | Mapping[str, str] | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks)
        name = "task_switching"
        check_in_channels(in_channels, name)
        d = check_positive(embedding_dim, "embedding_dim", name)
        c = check_positive(decoder_channels, "decoder_channels", name)
        depth = check_positive(decoder_depth, "decoder_depth", name)
        built = build_backbone(backbone, in_channels, backbone_kwargs, name)
        if built is None:
            raise ValueError(f"{name}: needs a backbone (the shared encoder)")
        self.backbone = built
        self.spatial = is_spatial(built)
        for task in self.tasks:
            if task.dense and not self.spatial:
                raise ValueError(
                    f"{name}: task {task.name!r} is dense ({task.kind}) but the backbone returns vectors; "
                    "use a convolutional backbone"
                )
        widths = [int(built.out_channels)] + [c] * depth
        self.decoder = nn.ModuleList(
            FiLMBlock(a, b, d, self.spatial) for a, b in zip(widths[:-1], widths[1:])
        )
        self.embeddings = nn.ParameterList(nn.Parameter(torch.randn(d) / d**0.5) for _ in self.tasks)
        kinds = head_kinds(head, self.tasks, name)
        self.heads = nn.ModuleList(create_head(t, c, kind=k) for t, k in zip(self.tasks, kinds))

    def _switched(self, z: Tensor, index: int, size: tuple[int, int] | None) -> Tensor:
        """The decoder switched to task ``index`` on the backbone features ``z``, then its head."""
        h = z
        for block in self.decoder:
            h = block(h, self.embeddings[index])
        return finish_prediction(self.heads[index](h), self.tasks[index], size)

    def forward(self, x: Tensor, task: str | None = None) -> dict[str, Tensor]:
        if task is not None:
            self._check_task(task)
        names = self.task_names if task is None else [task]
        size = (int(x.shape[-2]), int(x.shape[-1])) if x.dim() == 4 else None
        z = self.backbone(x)
        return {name: self._switched(z, self.task_names.index(name), size) for name in names}
