"""Equal weighting (linear scalarisation with unit weights)."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.methods.base import LossWeighting, register_method


@register_method("ew")
class EW(LossWeighting):
    r"""Equal weighting: the plain sum of the task losses.

    The baseline every MTL paper compares against (e.g. Kendall et al., CVPR 2018, "equal weights").

    Update rule:

    $$
    \mathcal{L} = \sum_{t=1}^{T} w_t L_t, \qquad w_t = 1 \quad \text{or} \quad w_t = \frac1T,
    $$

    with ``scale="sum"`` (the convention of LibMTL and most papers) or ``scale="mean"``.

    Args:
        scale: ``"sum"`` (default) or ``"mean"``.
    Modes: loss weighting (one backward pass; no Jacobian).
    """

    def __init__(self, scale: str = "sum") -> None:
        super().__init__()
        if scale not in ("sum", "mean"):
            raise ValueError(f"EW: scale must be 'sum' or 'mean', got {scale!r}")
        self.scale = scale

    def weights(self, losses: Tensor) -> Tensor:
        t = losses.shape[0]
        value = 1.0 if self.scale == "sum" else 1.0 / t
        return torch.full((t,), value, dtype=losses.dtype, device=losses.device)
