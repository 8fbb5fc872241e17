"""Multiply-accumulates of one forward pass, counted from the layers that ran (a network's cost)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["count_macs"]


@torch.no_grad()
def count_macs(model: nn.Module, x: Any) -> int:
    """Multiply-accumulates per sample of ``model(x[:1])`` in eval mode: every ``Linear``, ``Conv2d`` and
    ``ConvTranspose2d`` call that runs, counted from its output size (``out · in / groups · kernel``).
    Layers a forward skips (AdaShare's skipped blocks, the branches of a tree not taken) cost nothing;
    normalisations, activations and poolings are not counted."""
    total = [0]

    def hook(module: nn.Module, inputs: Any, out: Tensor) -> None:
        per_out = out[0].numel()
        if isinstance(module, nn.Linear):
            total[0] += per_out * module.in_features
        else:
            kernel = int(torch.tensor(module.kernel_size).prod())
            total[0] += per_out * module.in_channels // module.groups * kernel

    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))]
    handles = [m.register_forward_hook(hook) for m in layers]
    training = model.training
    model.eval()
    try:
        model(x[:1])
    finally:
        for handle in handles:
            handle.remove()
        model.train(training)
    return total[0]
