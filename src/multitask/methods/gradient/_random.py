"""A seedable random source for the stochastic gradient methods (PCGrad, GradDrop, GradVac).

With ``seed=None`` the methods draw from torch's global generator, so one ``torch.manual_seed`` makes a
run reproducible. With an integer seed they own a :class:`torch.Generator` (created lazily on the device
of the tensors they work on), whose state is part of the method's checkpoint.
"""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.methods.base import GradientMethod


class SeededGenerator:
    """An optional, lazily created, device-bound :class:`torch.Generator` with a saveable state."""

    def __init__(self, seed: int | None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        self.seed = seed
        self._gen: torch.Generator | None = None
        self._pending: Tensor | None = None

    def get(self, device: torch.device | str) -> torch.Generator | None:
        """The generator for ``device`` (``None`` when unseeded: use the global generator)."""
        if self.seed is None:
            return None
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if self._gen is None or self._gen.device != device:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            if self._pending is not None:
                gen.set_state(self._pending)
                self._pending = None
            self._gen = gen
        return self._gen

    @property
    def state(self) -> Tensor | None:
        if self._gen is not None:
            return self._gen.get_state()
        return self._pending

    @state.setter
    def state(self, value: Tensor | None) -> None:
        if value is None:
            self.reset()
            return
        if not isinstance(value, Tensor):
            raise TypeError(f"generator state must be a tensor or None, got {type(value).__name__}")
        if self._gen is not None:
            self._gen.set_state(value)
        else:
            self._pending = value.clone()

    def reset(self) -> None:
        self._gen = None
        self._pending = None


class SeededGradientMethod(GradientMethod):
    """A gradient method drawing from a :class:`SeededGenerator` ``self._rng`` (set by the subclass).

    Exposes the generator's state as ``rng_state`` (name it in ``_state_attrs`` to checkpoint it) and
    forgets it on :meth:`reset`.
    """

    _rng: SeededGenerator

    @property
    def rng_state(self) -> Tensor | None:
        return self._rng.state

    @rng_state.setter
    def rng_state(self, value: Tensor | None) -> None:
        self._rng.state = value

    def reset(self) -> None:
        super().reset()
        self._rng.reset()
