"""Shared parts of the branching searches (Learning to Branch, BMTAS): block copies, costs, tree configs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multitask.models.architectures._common import BackboneSpec, build_backbones
from multitask.models.backbones import Backbone, new_context
from multitask.models.sharing._common import AnnealedSearch, model_config


def block_copies(
    backbone: BackboneSpec, widths: Sequence[int], in_channels: int, backbone_kwargs: Any
) -> tuple[Backbone, nn.ModuleList]:
    """``widths[l]`` independent copies of each block ``l`` (fresh backbones from a name, deep copies of a
    built one); returns the first backbone (for its attributes) and ``[ModuleList of copies per block]``."""
    first = build_backbones(backbone, 1, in_channels, backbone_kwargs)[0]
    k = max(widths)
    if isinstance(backbone, str):
        sources = [first, *build_backbones(backbone, k - 1, in_channels, backbone_kwargs)]
    else:
        sources = build_backbones(first, k, in_channels)
    copies = nn.ModuleList(
        nn.ModuleList(sources[c].blocks[i] for c in range(w)) for i, w in enumerate(widths)
    )
    return first, copies


@torch.no_grad()
def block_macs(blocks: Sequence[nn.Module], x: Tensor) -> list[float]:
    """Multiply-accumulates per sample of each block in sequence on input ``x`` (convolutions and linear
    layers, counted from their output sizes; run in eval mode on the first sample)."""
    counts = [0.0] * len(blocks)
    current = [0]

    def hook(module: nn.Module, inputs: Any, out: Tensor) -> None:
        per_out = out[0].numel()
        if isinstance(module, nn.Linear):
            counts[current[0]] += per_out * module.in_features
        else:
            kernel = int(torch.tensor(module.kernel_size).prod())
            counts[current[0]] += per_out * module.in_channels // module.groups * kernel

    handles = []
    modes = [b.training for b in blocks]
    for b in blocks:
        b.eval()
        for m in b.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                handles.append(m.register_forward_hook(hook))
    try:
        h, ctx = x[:1], new_context()
        for i, b in enumerate(blocks):
            current[0] = i
            _, h = b(h, ctx)
    finally:
        for handle in handles:
            handle.remove()
        for b, mode in zip(blocks, modes):
            b.train(mode)
    return counts


def prefix_partitions(paths: Sequence[Sequence[int]]) -> list[list[list[int]]]:
    """Per-block task partitions of the tree in which task ``t`` follows ``paths[t]`` (one node/copy index
    per block): two tasks share block ``l`` when their paths agree on blocks ``0..l``. This is a tree
    (each partition refines the previous), the ``branches`` of the ``branched`` architecture."""
    n_blocks = len(paths[0])
    out = []
    for l in range(n_blocks):
        groups: dict[tuple[int, ...], list[int]] = {}
        for t, path in enumerate(paths):
            groups.setdefault(tuple(path[: l + 1]), []).append(t)
        out.append(sorted(groups.values()))
    return out


def compact_branches(partitions: list[list[list[int]]]) -> list[list[list[int]]]:
    """Drop trailing entries equal to their predecessor (``branched`` repeats the last one)."""
    out = list(partitions)
    while len(out) > 1 and out[-1] == out[-2]:
        out.pop()
    return out


def tree_macs(partitions: Sequence[Sequence[Sequence[int]]], macs: Sequence[float]) -> float:
    """Cost of a branched network: block ``l`` is run once per group of its partition."""
    return float(sum(len(p) * m for p, m in zip(partitions, macs)))


def set_partitions(n: int) -> list[list[list[int]]]:
    """Every partition of ``range(n)`` into groups (Bell(n) of them), groups sorted."""
    if n == 0:
        return [[]]
    out = []
    for smaller in set_partitions(n - 1):
        for i in range(len(smaller)):
            out.append(sorted(smaller[:i] + [sorted(smaller[i] + [n - 1])] + smaller[i + 1 :]))
        out.append(sorted(smaller + [[n - 1]]))
    return out


def is_refinement(fine: Sequence[Sequence[int]], coarse: Sequence[Sequence[int]]) -> bool:
    return all(any(set(g) <= set(c) for c in coarse) for g in fine)


class BranchSearch(AnnealedSearch):
    """Base of the branching searches (Learning to Branch, BMTAS): a two-phase search whose derived tree
    is ``branched``'s config, read off each task's argmax path of block copies (:meth:`paths`)."""

    _spec: dict[str, Any] | None
    hard: bool

    def _sample(self, logits: Tensor) -> Tensor:
        """A Gumbel-softmax sample of ``logits`` in training (straight-through one-hot when ``hard``), the
        argmax's one-hot vector in evaluation."""
        if self.training:
            return F.gumbel_softmax(logits, tau=self.temperature, hard=self.hard)
        return F.one_hot(logits.argmax(), logits.numel()).to(logits.dtype)

    @classmethod
    def searches(cls, kwargs: dict[str, Any]) -> bool:
        return True

    def paths(self) -> list[list[int]]:
        """Each task's block copy (node) per block in the derived tree."""
        raise NotImplementedError

    def derived_branches(self) -> list[list[list[int]]]:
        """The derived tree as ``branched``'s per-block task partitions."""
        return compact_branches(prefix_partitions(self.paths()))

    def derived_config(self) -> dict[str, Any]:
        return model_config("branched", self._spec, branches=self.derived_branches())
