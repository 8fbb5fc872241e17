"""Random loss weighting."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from multitask.methods.base import LossContext, LossWeighting, register_method
from multitask.methods.loss._checks import check_losses, check_num_tasks


@register_method("rlw")
class RLW(LossWeighting):
    r"""Random Loss Weighting (RLW).

    Lin, Ye, Zhang, Tsang. Reasonable Effectiveness of Random Weighting: A Litmus Test for
    Multi-Task Learning. TMLR 2022.

    At every step fresh weights are drawn:

    $$
    z \sim \mathcal{N}(0, I_T), \qquad w = \operatorname{softmax}(z), \qquad \mathcal{L} = \sum_t w_t L_t
    $$

    (the paper's default "normal" distribution, also LibMTL's ``RLW``; $\sum_t w_t = 1$). The weights do not
    depend on the loss values.

    Randomness: the draws come from the method's own ``torch.Generator``, seeded with ``seed`` or, when
    ``seed`` is None, from the global torch RNG at construction (so ``torch.manual_seed`` makes runs
    reproducible). The generator state is part of ``state_dict()``, so a resumed run draws the same
    weights as an uninterrupted one.

    Args:
        num_tasks: optional number of tasks, checked against the loss vector when given.
        seed: seed of the method's generator (default: drawn from the global torch RNG).
    Modes: loss weighting (one backward pass; no Jacobian).
    """

    _state_attrs: ClassVar[tuple[str, ...]] = ("generator_state",)

    def __init__(self, num_tasks: int | None = None, seed: int | None = None) -> None:
        super().__init__()
        self.num_tasks = None if num_tasks is None else check_num_tasks("RLW", num_tasks)
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"RLW: seed must be an int or None, got {type(seed).__name__}")
        self.seed = seed
        self._generator = torch.Generator().manual_seed(seed)

    @property
    def generator_state(self) -> Tensor:
        """The state of the method's random generator (a ``uint8`` tensor)."""
        return self._generator.get_state()

    @generator_state.setter
    def generator_state(self, state: Tensor) -> None:
        if not isinstance(state, Tensor) or state.dtype != torch.uint8:
            raise ValueError("RLW: generator_state must be a uint8 tensor from torch.Generator.get_state()")
        self._generator.set_state(state.cpu())

    def reset(self) -> None:
        super().reset()
        self._generator.manual_seed(self.seed)

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        check_losses("RLW", losses, ctx.task_names, ctx.expected(self.num_tasks))
        return super().objective(losses, ctx)

    def weights(self, losses: Tensor) -> Tensor:
        t = losses.shape[0]
        z = torch.randn(t, generator=self._generator, dtype=torch.float64)
        return torch.softmax(z, dim=0).to(dtype=losses.dtype, device=losses.device)

    def extra_repr(self) -> str:
        return f"seed={self.seed}"
