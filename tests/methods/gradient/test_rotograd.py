"""RotoGrad: orthogonal rotations, rotate(), magnitude homogenisation by hand, the rotation gradient
against finite differences of the paper's loss (scipy's expm), gradient alignment, modes, state."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import expm
from scipy.optimize import approx_fprime
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_permutation_invariant,
    assert_scale_equivariant,
    assert_state_round_trip,
    degenerate_jacobians,
    run,
    train_two_layer,
)
from torch import nn

import multitask as mt
from multitask.methods import RotoGrad

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _t(x: list, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


def _ready(num_tasks: int, dim: int, batch: int = 1, **kwargs) -> RotoGrad:
    """A RotoGrad that has seen a representation of shape ``[batch, dim]`` (as in features mode)."""
    m = RotoGrad(num_tasks, dim, **kwargs)
    m.rotate(torch.zeros(batch, dim))
    return m


# ---- rotations ------------------------------------------------------------------------------------
def test_registered_and_modes() -> None:
    m = mt.create_method("rotograd", num_tasks=2, dim=4, rotation_dim=3)
    assert isinstance(m, RotoGrad) and m.needs == "jacobian" and m.supports_features
    assert not m.supports_parameters and "representation" in m.parameters_error
    assert m.burn_in_period == 20 and m.rotation_dim == 3
    assert [n for n, _ in m.named_parameters()] == ["skew"] and m.skew.shape == (2, 3, 3)


@pytest.mark.parametrize("parameterization", ["expm", "cayley"])
def test_rotations_are_special_orthogonal_and_start_at_identity(parameterization: str) -> None:
    m = RotoGrad(3, 4, parameterization=parameterization)
    torch.testing.assert_close(m.rotations(), torch.eye(4).expand(3, 4, 4))
    with torch.no_grad():
        m.skew.normal_()
    rots = m.rotations().detach().double()
    eye = torch.eye(4, dtype=torch.float64).expand(3, 4, 4)
    torch.testing.assert_close(rots @ rots.transpose(-1, -2), eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rots), torch.ones(3, dtype=torch.float64), atol=1e-5, rtol=0)
    # only the strict upper triangle matters: S = U − Uᵀ
    upper = torch.triu(m.skew.detach().double(), 1)
    s = upper - upper.transpose(-1, -2)
    if parameterization == "expm":
        ref = np.stack([expm(x) for x in s.numpy()])
    else:
        ref = np.stack([np.linalg.solve(np.eye(4) - x, np.eye(4) + x) for x in s.numpy()])
    np.testing.assert_allclose(rots.numpy(), ref, atol=1e-5)


def test_rotate_applies_each_rotation_to_the_leading_coordinates_only() -> None:
    m = RotoGrad(2, 3, rotation_dim=2)
    with torch.no_grad():
        m.skew[1, 0, 1] = math.pi / 2  # S = [[0, π/2], [−π/2, 0]]: R = [[0, 1], [−1, 0]]
    z = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    z0, z1 = m.rotate(z)
    torch.testing.assert_close(z0, z.detach())
    torch.testing.assert_close(z1, torch.tensor([[2.0, -1.0, 3.0], [5.0, -4.0, 6.0]]), atol=1e-6, rtol=0)
    # the task losses reach z but not the rotations (those follow RotoGrad's own loss)
    z1.sum().backward()
    assert m.skew.grad is None and z.grad is not None
    with pytest.raises(ValueError, match=r"\[\.\.\., 3\]"):
        m.rotate(torch.zeros(2, 4))


# ---- the update -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_magnitude_homogenisation_by_hand(dtype: torch.dtype) -> None:
    m = _ready(2, 2)
    # step 1: n = (5, 1), c = (1, 1), α = (½, ½), C = 3: d = 3(g₁/5 + g₂/1) = (1.8, 5.4), w = C/n
    d = m.aggregate(_t([[3.0, 4.0], [0.0, 1.0]], dtype))
    torch.testing.assert_close(d, _t([1.8, 5.4], dtype))
    torch.testing.assert_close(m.last_weights, _t([0.6, 3.0], dtype))
    # step 2: n = (2.5, 1), c = (½, 1), α = (⅓, ⅔), C = 2.5/3 + 2/3 = 1.5: d = 1.5(e₂ + e₁)
    d = m.aggregate(_t([[0.0, 2.5], [1.0, 0.0]], dtype))
    torch.testing.assert_close(d, _t([1.5, 1.5], dtype))
    torch.testing.assert_close(m.last_weights, _t([0.6, 1.5], dtype))
    # every task pushes with the same strength C
    torch.testing.assert_close((m.last_weights * _t([2.5, 1.0], dtype)), _t([1.5, 1.5], dtype))


def test_burn_in_resets_the_reference_norms() -> None:
    m = _ready(2, 2, burn_in_period=2)
    for jac in ([[4.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 1.0]]):
        m.aggregate(_t(jac))
    torch.testing.assert_close(m.initial_norms, _t([4.0, 1.0]))
    m.aggregate(_t([[1.0, 0.0], [0.0, 3.0]]))  # step index 2 = burn_in_period: new references
    torch.testing.assert_close(m.initial_norms, _t([1.0, 3.0]))
    torch.testing.assert_close(m.last_weights, _t([2.0, 2.0 / 3.0]))  # c = (1, 1): C = 2


def _rotation_loss_reference(a: np.ndarray, a_fixed: np.ndarray, grads: np.ndarray, r: int) -> float:
    """Σₖ mean_b ‖Rₖ v_b − R̄ₖ gₖ_b‖² on the leading ``r`` coordinates, written from the paper."""
    t = grads.shape[0]
    mean = grads.mean(axis=0)
    norms = np.linalg.norm(grads.reshape(t, -1), axis=1)
    v = (np.linalg.norm(mean) * grads / norms[:, None, None]).mean(axis=0)
    total = 0.0
    for k in range(t):
        u, u0 = np.triu(a[k], 1), np.triu(a_fixed[k], 1)
        rot, rot0 = expm(u - u.T), expm(u0 - u0.T)
        diff = v[:, :r] @ rot.T - grads[k][:, :r] @ rot0.T
        total += float((diff**2).sum(axis=1).mean())
    return total


def test_rotation_gradient_matches_finite_differences_of_the_papers_loss() -> None:
    gen = torch.Generator().manual_seed(4)
    t, batch, dim, r = 3, 2, 4, 3
    m = _ready(t, dim, batch=batch, rotation_dim=r).double()
    with torch.no_grad():
        m.skew.copy_(0.3 * torch.randn(t, r, r, generator=gen, dtype=torch.float64))
    jac = torch.randn(t, batch * dim, generator=gen, dtype=torch.float64)
    m.aggregate(jac)
    a0 = m.skew.detach().numpy().copy()
    grads = jac.numpy().reshape(t, batch, dim)

    def f(flat: np.ndarray) -> float:
        return _rotation_loss_reference(flat.reshape(a0.shape), a0, grads, r)

    ref = approx_fprime(a0.ravel(), f, 1e-7).reshape(a0.shape)
    np.testing.assert_allclose(m.skew.grad.numpy(), ref, atol=2e-5)
    assert float(m.last_rotation_loss) == pytest.approx(f(a0.ravel()), rel=1e-10)
    assert np.abs(ref).max() > 1e-2  # a real gradient, not a trivially zero one
    m.aggregate(jac)  # a second call accumulates like backward() does
    np.testing.assert_allclose(m.skew.grad.numpy(), 2 * ref, atol=4e-5)


def test_learned_rotations_align_the_task_gradients() -> None:
    # heads with fixed gradients hₖ w.r.t. their rotated input: the encoder sees gₖ = Rₖᵀhₖ.
    # Training the rotations on RotoGrad's loss turns all gₖ towards one direction (cosines → 1).
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(3, 1, 4, generator=gen, dtype=torch.float64)
    m = _ready(3, 4)
    opt = torch.optim.Adam(m.parameters(), lr=0.2)

    def encoder_grads() -> torch.Tensor:
        rots = m.rotations().detach().double()
        return torch.einsum("kji,kbj->kbi", rots, h).reshape(3, -1)

    def min_cos(g: torch.Tensor) -> float:
        u = g / g.norm(dim=1, keepdim=True)
        return float((u @ u.T).min())

    before = min_cos(encoder_grads())
    for _ in range(60):
        m.aggregate(encoder_grads())
        opt.step()
        opt.zero_grad()
    assert before < 0.0
    assert min_cos(encoder_grads()) > 0.999


@pytest.mark.parametrize("dtype", DTYPES)
def test_shared_properties(dtype: torch.dtype) -> None:
    jac = torch.randn(3, 8, dtype=torch.float64).to(dtype)
    m = _ready(3, 4, batch=2)
    assert_permutation_invariant(m, jac)
    assert_scale_equivariant(m, jac)
    assert_direction_matches_weights(m, jac)


def test_degenerate_inputs_and_state() -> None:
    for dtype in DTYPES:
        for name, jac in degenerate_jacobians(dtype):
            d, w = run(_ready(jac.shape[0], jac.shape[1]), jac)
            assert d.shape == (jac.shape[1],) and d.dtype == dtype, name
            assert torch.isfinite(d).all() and torch.isfinite(w).all(), name
            if name == "zero":
                assert float(d.abs().max()) == 0.0
    restored = assert_state_round_trip(_ready(3, 5), torch.randn(3, 5))
    assert restored.initial_norms is not None


def test_parameters_mode_and_wrong_shapes_are_refused() -> None:
    torch.manual_seed(0)
    enc, head = nn.Linear(3, 4), nn.Linear(4, 1)
    m = RotoGrad(2, 4)
    z = enc(torch.randn(5, 3))
    zs = m.rotate(z)
    losses = [head(zs[0]).pow(2).mean(), head(zs[1]).abs().mean()]
    with pytest.raises(ValueError, match="defined on the representation"):
        mt.backward(losses, m, shared=enc.parameters())
    with pytest.raises(ValueError, match="rotate\\(\\) was never called"):
        RotoGrad(2, 4).aggregate(torch.randn(2, 4))
    with pytest.raises(ValueError, match="built for 2 tasks"):
        _ready(2, 4).aggregate(torch.randn(3, 4))
    for kwargs, field in (
        ({"rotation_dim": 5}, "rotation_dim"),
        ({"parameterization": "qr"}, "parameterization"),
        ({"burn_in_period": -1}, "burn_in_period"),
    ):
        with pytest.raises(ValueError, match=field):
            RotoGrad(2, 4, **kwargs)


@pytest.mark.parametrize("parameterization", ["expm", "cayley"])
def test_end_to_end_features_mode_lowers_the_loss_and_trains_the_rotations(parameterization: str) -> None:
    m = RotoGrad(3, 16, rotation_dim=8, parameterization=parameterization)
    # features mode with rotate() before the heads; the rotations get their own optimizer (Adam)
    first, last = train_two_layer(m, features=True, rotate=True, method_lr=1e-2)
    assert last < 0.5 * first
    eye = torch.eye(8).expand(3, 8, 8)
    assert float((m.rotations().detach() - eye).abs().max()) > 0.05  # the rotations were trained
    assert m.last_rotation_loss is not None and m.step_count == 31
