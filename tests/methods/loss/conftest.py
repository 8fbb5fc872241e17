"""Shared helpers for the loss-weighting tests."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import pytest
import torch
from torch import Tensor

from multitask.methods.base import LossContext, LossWeighting

Step = Callable[..., tuple[Tensor, Tensor]]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _step(
    method: LossWeighting, losses: Sequence[float] | Tensor, names: Sequence[str] | None = None, dtype=None
) -> tuple[Tensor, Tensor]:
    """One standalone step: ``(objective, weights)`` as :meth:`LossWeighting.combine` computes them."""
    vec = losses if isinstance(losses, Tensor) else torch.tensor(losses, dtype=dtype or torch.float64)
    total = method.combine(vec, names)
    return total, method.last_weights


@pytest.fixture
def step() -> Step:
    return _step


def _roundtrip(method: LossWeighting, fresh: LossWeighting) -> LossWeighting:
    """Save ``method`` with ``torch.save``, load into ``fresh`` with ``torch.load(weights_only=True)``."""
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    return fresh


@pytest.fixture
def roundtrip() -> Callable[[LossWeighting, LossWeighting], LossWeighting]:
    return _roundtrip


def _grad_wrt_losses(
    method: LossWeighting, losses: Sequence[float], dtype=torch.float64
) -> tuple[Tensor, Tensor]:
    """``(∂objective/∂L, reported weights)`` for a loss vector that is a leaf."""
    vec = torch.tensor(losses, dtype=dtype, requires_grad=True)
    names = [str(i) for i in range(vec.numel())]
    total, w = method.objective(vec, LossContext(task_names=names, step=method.step_count))
    (grad,) = torch.autograd.grad(total, vec)
    return grad, w


@pytest.fixture
def grad_wrt_losses() -> Callable[..., tuple[Tensor, Tensor]]:
    return _grad_wrt_losses
