"""Experts, softmax gates and backbone handling shared by MMoE, CGC, PLE and DSelect-k.

An expert-mixture model runs on one of two kinds of features:

* **vectors** ``[B, D]``: no backbone (the input itself, ``in_channels = D``) or a vector backbone
  such as ``mlp``; experts are small ReLU MLPs;
* **feature maps** ``[B, C, H, W]``: a convolutional backbone; experts are small conv nets
  (3x3 conv, batch norm, ReLU) and the gates read the globally average-pooled features.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from multitask.models.backbones import create_backbone


def build_backbone(
    backbone: str | nn.Module | None, in_channels: int, backbone_kwargs: dict[str, Any] | None, model: str
) -> nn.Module | None:
    """Resolve the ``backbone`` argument: a registered name, a module (used as is), or ``None``."""
    if backbone is None or (isinstance(backbone, str) and backbone.lower() in ("none", "identity")):
        if backbone_kwargs:
            raise ValueError(f"{model}: backbone_kwargs given but no backbone")
        return None
    if isinstance(backbone, str):
        return create_backbone(backbone, in_channels=in_channels, **(backbone_kwargs or {}))
    if isinstance(backbone, nn.Module):
        if not hasattr(backbone, "out_channels"):
            raise TypeError(f"{model}: a backbone module needs an `out_channels` attribute")
        if backbone_kwargs:
            raise ValueError(f"{model}: backbone_kwargs only apply when the backbone is given by name")
        return backbone
    raise TypeError(f"{model}: backbone must be a name, an nn.Module or None, got {type(backbone).__name__}")


def is_spatial(backbone: nn.Module | None) -> bool:
    """True when the backbone returns feature maps ``[B, C, H, W]`` (its ``is_dense`` attribute)."""
    if backbone is None:
        return False
    dense = getattr(backbone, "is_dense", None)
    return bool(dense) if dense is not None else hasattr(backbone, "forward_stages")


def pool(features: Tensor) -> Tensor:
    """Gate input: vectors unchanged, feature maps globally average-pooled to ``[B, C]``."""
    return features if features.dim() == 2 else features.mean(dim=(-2, -1))


class MLPExpert(nn.Sequential):
    """``depth`` blocks of ``Linear -> ReLU`` of width ``width``."""

    def __init__(self, in_features: int, width: int, depth: int = 1) -> None:
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [nn.Linear(in_features if i == 0 else width, width), nn.ReLU(inplace=True)]
        super().__init__(*layers)
        self.out_channels = width


class ConvExpert(nn.Sequential):
    """``depth`` blocks of ``Conv3x3 -> BatchNorm -> ReLU`` with ``width`` channels (resolution kept)."""

    def __init__(self, in_channels: int, width: int, depth: int = 1) -> None:
        layers: list[nn.Module] = []
        for i in range(depth):
            layers += [
                nn.Conv2d(in_channels if i == 0 else width, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
        super().__init__(*layers)
        self.out_channels = width


def make_experts(count: int, spatial: bool, in_dim: int, width: int, depth: int) -> nn.ModuleList:
    """``count`` independent experts of the kind the features call for."""
    cls = ConvExpert if spatial else MLPExpert
    return nn.ModuleList(cls(in_dim, width, depth) for _ in range(count))


class SoftmaxGate(nn.Module):
    """MMoE gate ``g(x) = softmax(W x)`` over ``num_experts`` (Ma et al., KDD 2018, Eq. 8).

    The paper's gate is a bias-free linear map of the input; feature maps are pooled first.
    """

    def __init__(self, in_features: int, num_experts: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_experts, bias=False)

    def forward(self, features: Tensor) -> Tensor:
        return torch.softmax(self.linear(pool(features)), dim=-1)


def run_experts(experts: nn.ModuleList, features: Tensor) -> Tensor:
    """Stack expert outputs along dim 1: ``[B, E, ...]``."""
    return torch.stack([expert(features) for expert in experts], dim=1)


def mix(expert_outputs: Tensor, weights: Tensor) -> Tensor:
    """``Σᵢ wᵢ fᵢ``: ``expert_outputs [B, E, ...]`` weighted by ``weights [B, E]`` (or ``[E]``)."""
    if weights.dim() == 1:
        weights = weights.unsqueeze(0).expand(expert_outputs.shape[0], -1)
    shape = weights.shape + (1,) * (expert_outputs.dim() - 2)
    return (weights.reshape(shape).to(expert_outputs.dtype) * expert_outputs).sum(dim=1)


def build_dense_backbone(
    backbone: str | nn.Module | None, in_channels: int, backbone_kwargs: dict[str, Any] | None, model: str
) -> nn.Module:
    """A backbone that returns feature maps (``is_dense``), as PAD-Net, MTI-Net and friends need."""
    built = build_backbone(backbone, in_channels, backbone_kwargs, model)
    if built is None or not is_spatial(built):
        name = getattr(type(built), "registry_name", type(built).__name__) if built is not None else None
        raise ValueError(
            f"{model}: needs a convolutional backbone that returns feature maps (e.g. 'resnet18', "
            f"'segnet', 'unet'), got {name!r}"
        )
    return built
