"""GradDrop: keep, per coordinate, only the gradients of one randomly chosen sign."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from multitask.methods.base import GradientMethod, register_method
from multitask.methods.gradient._random import SeededGenerator


@register_method("graddrop")
class GradDrop(GradientMethod):
    """Gradient Sign Dropout.

    Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov. Just Pick a Sign: Optimizing Deep
    Multitask Models with Gradient Sign Dropout. NeurIPS 2020.

    Update rule, per coordinate ``k`` of the task gradients ``gᵢ`` (rows of ``J``):
    sign purity ``P = ½ (1 + Σᵢ gᵢₖ / Σᵢ |gᵢₖ|)``, ``U ~ Uniform(0, 1)`` drawn once per coordinate,
    mask ``Mᵢₖ = 1[P > U] 1[gᵢₖ > 0] + 1[P < U] 1[gᵢₖ < 0]``, and
    ``dₖ = Σᵢ (ℓᵢ + (1 − ℓᵢ) Mᵢₖ) gᵢₖ`` with leak ``ℓᵢ ∈ [0, 1]`` (``ℓ = 0``: pure GradDrop, the paper's
    default; ``ℓ = 1``: the plain sum). Coordinates where every gradient is zero keep ``d = 0``.

    The paper's ``sign(A) ∘ ∇_A Lᵢ`` pre-multiplication by the sign of the activation flips all tasks
    at a coordinate together, which maps ``P`` to ``1 − P`` and leaves the distribution of the kept sign
    unchanged, so it is omitted (the method never sees activations). ``d`` is not a fixed weighting of
    the rows, so ``last_weights`` stays ``None``.

    Args:
        leak: ``ℓ`` — one float for all tasks or one per task (default 0.0).
        seed: seed of the method's own generator for ``U``; ``None`` (default) draws from torch's global
            generator.
    Modes: features (the paper applies it to activations' gradients: its natural mode) and parameters
    (per parameter coordinate).
    """

    needs = "jacobian"
    _state_attrs = ("rng_state",)

    def __init__(self, leak: float | Sequence[float] = 0.0, seed: int | None = None) -> None:
        super().__init__()
        values = [float(leak)] if isinstance(leak, (int, float)) else [float(x) for x in leak]
        if not values or any(not 0.0 <= x <= 1.0 for x in values):
            raise ValueError(f"GradDrop: leak must lie in [0, 1] (one value or one per task), got {leak!r}")
        self.leak = values[0] if isinstance(leak, (int, float)) else values
        self._rng = SeededGenerator(seed)

    @property
    def rng_state(self) -> Tensor | None:
        return self._rng.state

    @rng_state.setter
    def rng_state(self, value: Tensor | None) -> None:
        self._rng.state = value

    def reset(self) -> None:
        super().reset()
        self._rng.reset()

    def direction(self, jacobian: Tensor, losses: Tensor | None = None) -> Tensor:
        t, n = jacobian.shape
        leak = self._leak_vector(t, jacobian)
        total = jacobian.sum(dim=0)
        mass = jacobian.abs().sum(dim=0)
        nonzero = mass > 0
        purity = 0.5 * (1.0 + torch.where(nonzero, total / torch.where(nonzero, mass, 1.0), 0.0))
        u = torch.rand(n, generator=self._rng.get(jacobian.device), device=jacobian.device)
        u = u.to(jacobian.dtype)
        keep = ((purity > u) & (jacobian > 0)) | ((purity < u) & (jacobian < 0))
        factor = leak[:, None] + (1.0 - leak[:, None]) * keep.to(jacobian.dtype)
        self.last_weights = None
        return (factor * jacobian).sum(dim=0)

    def _leak_vector(self, t: int, like: Tensor) -> Tensor:
        if isinstance(self.leak, float):
            return torch.full((t,), self.leak, dtype=like.dtype, device=like.device)
        if len(self.leak) != t:
            raise ValueError(f"GradDrop: {len(self.leak)} leak values for {t} tasks")
        return torch.tensor(self.leak, dtype=like.dtype, device=like.device)

    def extra_repr(self) -> str:
        return f"leak={self.leak}, seed={self._rng.seed}"
