"""GradDrop: keep, per coordinate, only the gradients of one randomly chosen sign."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from multitask.methods.base import register_method
from multitask.methods.gradient._random import SeededGenerator, SeededGradientMethod


@register_method("graddrop")
class GradDrop(SeededGradientMethod):
    r"""Gradient Sign Dropout.

    Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov. Just Pick a Sign: Optimizing Deep
    Multitask Models with Gradient Sign Dropout. NeurIPS 2020.

    Update rule (the paper's Algorithm 1). With $A$ the layer the rule acts on and $\nabla_i$ the gradient
    of task $i$ with respect to it:

    * $G_i = \sum_{\text{batch}} \operatorname{sign}(A) \circ \nabla_i$ when $A$ has a batch dimension (the
      sum over the batch comes first), $G_i = \nabla_i$ otherwise;
    * sign purity $P = \frac12 \big(1 + \sum_i G_i / \sum_i |G_i|\big)$, one $U \sim \text{Uniform}(0, 1)$
      per coordinate of $G$;
    * mask and update (one mask per feature coordinate, shared by every sample of the batch), with leak
      $\ell_i \in [0, 1]$ ($\ell = 0$: pure GradDrop, the paper's default; $\ell = 1$: the plain sum):

    $$
    M_i = \mathbb{1}[P > U] \, \mathbb{1}[G_i > 0] + \mathbb{1}[P < U] \, \mathbb{1}[G_i < 0], \qquad
    d = \sum_i \big(\ell_i + (1 - \ell_i) M_i\big) \circ \nabla_i .
    $$

    Coordinates where every ``Gᵢ`` is zero keep nothing from the masked tasks. ``d`` is not a fixed
    weighting of the rows, so ``last_weights`` stays ``None``.

    Features mode (the paper's: ``A`` is the shared representation, batch dimension first): the rule
    needs ``A`` itself, for its batch structure and ``sign(A)``. :meth:`on_features` hands it over for
    the next call (a features-mode engine calls it before the combination; LibMTL's ``GradDrop`` likewise
    takes the batch sum of ``sign(A) ∘ ∇ᵢ``, one mask per feature). Without ``A`` (a bare
    ``aggregate(J)``, or an engine that does not call the hook) every column of ``J`` is its own
    coordinate, i.e. one mask per (sample, feature).

    Parameters mode: each shared parameter coordinate is a coordinate of ``A`` without a batch dimension
    (its gradient already sums over the batch) and there is no activation sign, so ``Gᵢ = ∇ᵢ``: one mask
    per parameter coordinate, as in the GradDrop baseline of the CAGrad/Nash-MTL/FairGrad authors' code.

    Args:
        leak: ``ℓ`` — one float for all tasks or one per task (default 0.0).
        seed: seed of the method's own generator for ``U``; ``None`` (default) draws from torch's global
            generator.
    Modes: features (the paper's: it applies the rule to the activations' gradients) and parameters.
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
        #: the representation ``A`` of the next call (set by :meth:`on_features`, used once)
        self._features: list[Tensor] | None = None

    def on_features(self, features: Sequence[Tensor]) -> None:
        """Give the shared representation ``A`` (one tensor or several, batch dimension first) whose
        per-task gradients form the columns of the next Jacobian, in the same order (features mode)."""
        self._features = [z.detach() for z in features]

    def reset(self) -> None:
        super().reset()
        self._features = None

    def direction(self, jacobian: Tensor, losses: Tensor | None = None) -> Tensor:
        t, n = jacobian.shape
        leak = self._leak_vector(t, jacobian)
        features, self._features = self._features, None
        if features is None:  # every column is a coordinate (parameters mode / bare call)
            blocks, signs = [jacobian[:, None, :]], [None]
        else:
            sizes = [z.numel() for z in features]
            if sum(sizes) != n:
                raise ValueError(
                    f"GradDrop: the features given to on_features() have {sum(sizes)} entries but the "
                    f"Jacobian has {n} columns"
                )
            shapes = [(z.shape[0], -1) if z.dim() >= 2 else (1, -1) for z in features]
            blocks = [b.reshape(t, *s) for b, s in zip(jacobian.split(sizes, dim=1), shapes)]
            signs = [torch.sign(z).reshape(s).to(jacobian.dtype) for z, s in zip(features, shapes)]
        # G = Σ_batch sign(A) ∘ ∇ (one row per task, one column per feature coordinate)
        summed = [b.sum(dim=1) if s is None else (b * s).sum(dim=1) for b, s in zip(blocks, signs)]
        g = torch.cat(summed, dim=1)
        total = g.sum(dim=0)
        mass = g.abs().sum(dim=0)
        nonzero = mass > 0
        purity = 0.5 * (1.0 + torch.where(nonzero, total / torch.where(nonzero, mass, 1.0), 0.0))
        u = torch.rand(g.shape[1], generator=self._rng.get(jacobian.device), device=jacobian.device)
        u = u.to(jacobian.dtype)
        keep = ((purity > u) & (g > 0)) | ((purity < u) & (g < 0))
        factor = leak[:, None] + (1.0 - leak[:, None]) * keep.to(jacobian.dtype)
        parts, start = [], 0
        for b in blocks:
            width = b.shape[2]
            parts.append((factor[:, None, start : start + width] * b).sum(dim=0).reshape(-1))
            start += width
        self.last_weights = None
        return torch.cat(parts)

    def _leak_vector(self, t: int, like: Tensor) -> Tensor:
        if isinstance(self.leak, float):
            return torch.full((t,), self.leak, dtype=like.dtype, device=like.device)
        if len(self.leak) != t:
            raise ValueError(f"GradDrop: {len(self.leak)} leak values for {t} tasks")
        return torch.tensor(self.leak, dtype=like.dtype, device=like.device)

    def extra_repr(self) -> str:
        return f"leak={self.leak}, seed={self._rng.seed}"
