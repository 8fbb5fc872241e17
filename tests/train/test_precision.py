"""Mixed precision: ``multitask.backward(..., grad_scale=S)`` and the trainer's ``train.precision``."""

from __future__ import annotations

import pytest
import torch
from tests.distributed._workers import Tiny, data

import multitask as mt
from multitask._backward import GradientOverflowError
from multitask.methods import create_method


def _grads(name: str, scale: float | None, features: bool = False, scaled_losses: float = 1.0) -> list:
    torch.manual_seed(0)
    model = Tiny().double()
    method = create_method(name, **({"num_tasks": 3} if name == "dwa" else {})).double()
    x, y = data(0)
    z, preds = model(x)
    losses = {t: scaled_losses * ((p - y[:, i]) ** 2).mean() for i, (t, p) in enumerate(preds.items())}
    info = mt.backward(
        losses, method, shared=list(model.encoder.parameters()), features=z if features else None,
        grad_scale=scale,
    )  # fmt: skip
    return [p.grad.clone() for p in model.parameters()] + [info.losses]


@pytest.mark.parametrize(("name", "features"), [("nash_mtl", False), ("nash_mtl", True), ("dwa", False)])
def test_the_method_sees_unscaled_gradients_and_grad_holds_s_times_the_gradient(name: str, features: bool):
    plain, scaled = _grads(name, None, features), _grads(name, 1024.0, features)
    for a, b in zip(plain[:-1], scaled[:-1]):
        assert torch.allclose(b, 1024.0 * a, rtol=1e-10, atol=1e-12)
    assert torch.equal(plain[-1], scaled[-1])  # the logged losses are unscaled


def test_scaling_the_losses_naively_would_change_a_non_homogeneous_method() -> None:
    """Guard: Nash-MTL's direction is not 1-homogeneous, so the unscaling above is what makes it exact."""
    plain, naive = _grads("nash_mtl", None), _grads("nash_mtl", None, scaled_losses=1024.0)
    assert max(float((1024.0 * a - b).abs().max()) for a, b in zip(plain[:-1], naive[:-1])) > 1e-3


def test_an_overflow_raises_before_the_method_runs() -> None:
    torch.manual_seed(0)
    model = Tiny().float()
    method = create_method("upgrad")
    x, y = data(0)
    _, preds = model(x.float())
    losses = {t: 1e4 * ((p - y[:, i].float()) ** 2).mean() for i, (t, p) in enumerate(preds.items())}
    with pytest.raises(GradientOverflowError, match="non-finite scaled gradients"):
        mt.backward(losses, method, shared=list(model.encoder.parameters()), grad_scale=1e38)
    assert method.step_count == 0 and method.last_weights is None
    with pytest.raises(ValueError, match="grad_scale must be a positive finite number"):
        mt.backward(losses, method, shared=list(model.encoder.parameters()), grad_scale=0.0)
