"""Blocks of the distillation architectures (PAD-Net, MTI-Net): residual blocks, per-task refinement,
attention-guided multi-modal distillation, squeeze-and-excitation and feature propagation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv3x3(in_channels: int, out_channels: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)


class BasicBlock(nn.Module):
    """ResNet basic block ``relu(bn(conv(relu(bn(conv(x))))) + proj(x))``; ``proj`` = 1x1 conv + BN
    when the channels change (He et al., CVPR 2016)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = conv3x3(in_channels, out_channels), nn.BatchNorm2d(out_channels)
        self.conv2, self.bn2 = conv3x3(out_channels, out_channels), nn.BatchNorm2d(out_channels)
        self.proj: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.proj = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.proj(x))


def refinement(in_channels: int, out_channels: int) -> nn.Sequential:
    """Per-task feature refinement of PAD-Net / MTI-Net: two basic blocks."""
    return nn.Sequential(BasicBlock(in_channels, out_channels), BasicBlock(out_channels, out_channels))


class SelfAttentionMessage(nn.Module):
    """One message ``σ(A ⊗ Fˡ) ⊙ (W ⊗ Fˡ)``: the mask and the message both come from the *sending*
    task's features ``Fˡ`` (``A``, ``W``: 3x3 convolutions without bias; ``SABlock`` in Vandenhende
    et al.'s code)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.attention = conv3x3(channels, channels)
        self.conv = conv3x3(channels, channels)

    def forward(self, source: Tensor) -> Tensor:
        return torch.sigmoid(self.attention(source)) * self.conv(source)


class Distillation(nn.Module):
    """Attention-guided multi-modal distillation into one task k (PAD-Net's module C)::

        Fᵏ_out = Fᵏ + Σ_{l≠k} σ(A_{l→k} ⊗ Fˡ) ⊙ (W_{l→k} ⊗ Fˡ)

    as in Vandenhende et al.'s code for PAD-Net and MTI-Net (``MultiTaskDistillationModule``, the
    dense-prediction survey, TPAMI 2021): each message is masked by a sigmoid of the *sending* task's
    own features. (PAD-Net's paper, Xu et al. CVPR 2018, writes one mask per receiver,
    ``σ(W_gᵏ ⊗ Fᵏ)``; the published re-implementation, which the survey's numbers come from, does
    not.) ``A_{l→k}`` and ``W_{l→k}`` are 3x3 convolutions without bias; all belong to task k.
    """

    def __init__(self, channels: int, num_sources: int) -> None:
        super().__init__()
        self.messages = nn.ModuleList(SelfAttentionMessage(channels) for _ in range(num_sources))

    def forward(self, own: Tensor, others: Sequence[Tensor]) -> Tensor:
        if len(others) != len(self.messages):
            raise ValueError(f"distillation expects {len(self.messages)} source tasks, got {len(others)}")
        if not others:
            return own
        return own + torch.stack([message(f) for message, f in zip(self.messages, others)]).sum(dim=0)


def distill_all(modules: Sequence[nn.Module], features: Sequence[Tensor]) -> list[Tensor]:
    """Apply each task's :class:`Distillation` to the features of all tasks."""
    out = []
    for k, module in enumerate(modules):
        others = [f for l, f in enumerate(features) if l != k]
        out.append(module(features[k], others))
    return out


class SqueezeExcitation(nn.Module):
    """``x ⊙ σ(W₂ relu(W₁ avgpool(x)))`` (Hu, Shen, Sun. CVPR 2018), reduction r = 16 (paper default)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(-2, -1))))))
        return x * s[:, :, None, None]


#: how the feature propagation module groups channels for its softmax (see :class:`FeaturePropagation`)
FPM_SOFTMAX = ("tasks", "consecutive")


class FeaturePropagation(nn.Module):
    """MTI-Net's feature propagation module (Vandenhende et al., ECCV 2020, Sec. 3.3), shared part.

    The T task features ``Fₜ [B, C, H, W]`` are concatenated (``[B, TC, H, W]``, task-major), passed
    through a non-linear map f (two basic blocks to TC/4 channels and a 1x1 conv back to TC), turned
    into an attention by a softmax, used to re-weight the concatenation, and reduced to C channels by
    a basic block::

        A = softmax(f([F₁ … F_T])),   S = g(A ⊙ [F₁ … F_T])

    Each task t then receives ``SEₜ(S) + Fₜ`` (its own squeeze-and-excitation, see
    :class:`SqueezeExcitation`; those belong to the task, this module is shared).

    Softmax grouping (``softmax``): ``"tasks"`` (default) is the paper's per-task attention mask: at
    each channel position c the softmax runs over the T tasks' channels ``{c, C + c, …, (T-1)C + c}``.
    The authors' code (``FPM`` in Multi-Task-Learning-PyTorch) views the task-major concatenation as
    ``[B, TC/T, T, H, W]`` and takes the softmax over the size-T axis, i.e. over T *consecutive*
    channels ``{jT, …, jT + T - 1}``, which mostly belong to one task; ``"consecutive"`` reproduces
    that grouping (for comparisons with the published numbers).
    """

    def __init__(self, num_tasks: int, channels: int, softmax: str = "tasks") -> None:
        super().__init__()
        if softmax not in FPM_SOFTMAX:
            raise ValueError(f"feature propagation: softmax must be one of {FPM_SOFTMAX}, got {softmax!r}")
        self.num_tasks, self.channels, self.softmax = num_tasks, channels, softmax
        total = num_tasks * channels
        hidden = max(1, total // 4)
        self.non_linear = nn.Sequential(
            BasicBlock(total, hidden), BasicBlock(hidden, hidden), nn.Conv2d(hidden, total, 1)
        )
        self.reduce = BasicBlock(total, channels)

    def forward(self, features: Sequence[Tensor]) -> Tensor:
        concat = torch.cat(list(features), dim=1)
        b, total, h, w = concat.shape
        logits = self.non_linear(concat)
        if self.softmax == "tasks":
            groups = (b, self.num_tasks, self.channels, h, w)
            axis = 1
        else:
            groups = (b, total // self.num_tasks, self.num_tasks, h, w)
            axis = 2
        attention = torch.softmax(logits.reshape(groups), dim=axis)
        weighted = attention * concat.reshape(groups)
        return self.reduce(weighted.reshape(b, total, h, w))
