"""Task conditioning of the task-switching network: task codes, the mapping network and conditioned
convolutions (StyleGAN-style adaptive normalisation driven by a task's latent vector).

Sun, Probst, Paudel, Popović, Kanakis, Patel, Dai, Van Gool. Task Switching Network for Multi-task
Learning. ICCV 2021 (code: ``GuoleiSun/TSNs``, ``model.py``); the mapping network and the adaptive
normalisation follow Karras, Laine, Aila. A Style-Based Generator Architecture for GANs. CVPR 2019.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: normalisations a conditioned layer can use before its task-dependent scale and shift
NORMS = ("instance", "batch")


def task_codes(num_tasks: int, code_dim: int) -> Tensor:
    """``[T, code_dim]`` block one-hot codes: task t has ones on ``[t·n, (t+1)·n)``, ``n = code_dim // T``
    (the TSN code's codes: 5 tasks, ``code_dim = 100``, 20 ones each). Codes are orthogonal."""
    if num_tasks > code_dim:
        raise ValueError(
            f"task_switching: code_dim ({code_dim}) must be >= the number of tasks ({num_tasks})"
        )
    n = code_dim // num_tasks
    codes = torch.zeros(num_tasks, code_dim)
    for t in range(num_tasks):
        codes[t, t * n : (t + 1) * n] = 1.0
    return codes


def _he_linear(in_features: int, out_features: int) -> nn.Linear:
    """A linear layer drawn ``N(0, 2/fan_in)`` with zero bias (the forward of StyleGAN's equalised-rate
    layers at initialisation; the runtime rescaling of their learning rate is not reproduced)."""
    layer = nn.Linear(in_features, out_features)
    nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / in_features))
    nn.init.zeros_(layer.bias)
    return layer


class MappingNetwork(nn.Module):
    """``w = (linear - LeakyReLU(0.2))^depth (z / sqrt(mean(z²) + 1e-8))``: task code -> latent vector."""

    def __init__(self, dim: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [_he_linear(dim, dim), nn.LeakyReLU(0.2)]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.layers(z * torch.rsqrt(z.pow(2).mean(dim=-1, keepdim=True) + 1e-8))


class ConditionedLayer(nn.Module):
    """``LeakyReLU(γ(w) ⊙ norm(W h) + β(w))``, ``(γ, β) = A w + b`` with ``b_γ`` initialised to 1.

    ``W`` is a ``kernel`` x ``kernel`` convolution (with bias) on maps or a linear layer on vectors;
    ``norm`` has no affine part of its own: ``"instance"`` (the paper's AdaIN; on vectors the
    per-example normalisation over the features) or ``"batch"`` (the TSN code's AdaBN variant).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, latent_dim: int, norm: str, spatial: bool
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"task_switching: norm must be one of {NORMS}, got {norm!r}")
        self.norm_kind, self.spatial = norm, spatial
        if spatial:
            self.layer: nn.Module = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2)
        else:
            self.layer = nn.Linear(in_channels, out_channels)
        self.norm: nn.Module | None = None
        if norm == "batch":
            self.norm = (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(out_channels, affine=False)
        self.style = _he_linear(latent_dim, 2 * out_channels)
        with torch.no_grad():
            self.style.bias[:out_channels] = 1.0

    def normalise(self, h: Tensor) -> Tensor:
        if self.norm is not None:
            return self.norm(h)
        if not self.spatial:
            return F.layer_norm(h, h.shape[-1:])
        if h.shape[-2] * h.shape[-1] < 2:
            raise ValueError(
                f"task_switching: instance norm needs maps of more than one pixel, got {list(h.shape)}; "
                "use larger inputs or norm='batch'"
            )
        return F.instance_norm(h)

    def forward(self, h: Tensor, latent: Tensor) -> Tensor:
        gamma, beta = self.style(latent).chunk(2, dim=-1)
        out = self.normalise(self.layer(h))
        shape = (1, -1) + (1,) * (out.dim() - 2)
        return F.leaky_relu(gamma.reshape(shape) * out + beta.reshape(shape), 0.01)


def pool_channels(pred: Tensor, channels: int) -> Tensor:
    """Adaptive average pooling over the channel axis of ``[B, C, ...]`` to ``channels`` (bin i covers
    channels ``⌊iC/k⌋ … ⌈(i+1)C/k⌉ - 1``), as the TSN code reduces its shared output per task."""
    if pred.shape[1] == channels:
        return pred
    b, c = pred.shape[:2]
    rest = pred.shape[2:]
    flat = pred.reshape(b, c, -1).transpose(1, 2)  # [B, N, C]
    pooled = F.adaptive_avg_pool1d(flat, channels)  # [B, N, k]
    return pooled.transpose(1, 2).reshape(b, channels, *rest)
