"""GradDrop: sign purity and masks by hand, the keep-probability in distribution, leak, seeds."""

from __future__ import annotations

import pytest
import torch
from tests.methods.properties import (
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_scale_equivariant,
    assert_state_round_trip,
)

import multitask as mt
from multitask.methods import GradDrop

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registered() -> None:
    m = mt.create_method("graddrop")
    assert isinstance(m, GradDrop) and m.supports_features and m.needs == "jacobian"


@pytest.mark.parametrize("dtype", DTYPES)
def test_pure_signs_keep_everything(dtype: torch.dtype) -> None:
    # every coordinate has one sign across tasks: P ∈ {0, 1}, nothing is dropped
    jac = torch.tensor([[1.0, -2.0, 0.0], [3.0, -4.0, 0.0]], dtype=dtype)
    m = GradDrop()
    for _ in range(5):
        torch.testing.assert_close(m.aggregate(jac), jac.sum(dim=0))
    assert m.last_weights is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_masks_by_hand_with_known_uniforms(dtype: torch.dtype) -> None:
    # coordinate 0: sum 0, |sum| 4 → P = ½; coordinate 1: (−1 + 3)/4 → P = ¾; coordinate 2: P = 1
    jac = torch.tensor([[2.0, -1.0, 0.5], [-2.0, 3.0, 0.5]], dtype=dtype)
    purity = torch.tensor([0.5, 0.75, 1.0], dtype=dtype)
    # the uniform draws GradDrop(seed=42) makes
    u = torch.rand(3, generator=torch.Generator().manual_seed(42)).to(dtype)
    positive = torch.tensor([2.0, 3.0, 1.0], dtype=dtype)
    negative = torch.tensor([-2.0, -1.0, 0.0], dtype=dtype)
    expected = torch.where(purity > u, positive, negative)
    torch.testing.assert_close(GradDrop(seed=42).aggregate(jac), expected)


def test_keep_probability_is_the_sign_purity() -> None:
    # every column holds (3, −1): P = ½(1 + 2/4) = ¾, so the positive gradient survives ≈ 75 % of the time
    n = 20000
    jac = torch.tensor([[3.0], [-1.0]], dtype=torch.float64).expand(2, n).contiguous()
    d = GradDrop(seed=0).aggregate(jac)
    assert set(d.unique().tolist()) <= {3.0, -1.0}
    frac = float((d == 3.0).double().mean())
    assert abs(frac - 0.75) < 4 * (0.75 * 0.25 / n) ** 0.5  # 4 standard errors


def test_leak() -> None:
    jac = torch.tensor([[2.0, -1.0, 0.5], [-2.0, 3.0, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(GradDrop(leak=1.0).aggregate(jac), jac.sum(dim=0))
    # task 0 always kept (ℓ = 1), task 1 masked with the same draws as above
    u = torch.rand(3, generator=torch.Generator().manual_seed(42)).double()
    keep1 = ((torch.tensor([0.5, 0.75, 1.0], dtype=torch.float64) > u) & (jac[1] > 0)) | (
        (torch.tensor([0.5, 0.75, 1.0], dtype=torch.float64) < u) & (jac[1] < 0)
    )
    expected = jac[0] + keep1.double() * jac[1]
    torch.testing.assert_close(GradDrop(leak=[1.0, 0.0], seed=42).aggregate(jac), expected)
    with pytest.raises(ValueError, match="2 leak values for 3 tasks"):
        GradDrop(leak=[0.0, 1.0]).aggregate(torch.randn(3, 4))
    with pytest.raises(ValueError, match="leak"):
        GradDrop(leak=1.5)


def test_seeded_generator_is_reproducible_and_global_rng_followed() -> None:
    jac = torch.randn(3, 50, dtype=torch.float64)
    torch.testing.assert_close(GradDrop(seed=9).aggregate(jac), GradDrop(seed=9).aggregate(jac))
    assert not torch.equal(GradDrop(seed=9).aggregate(jac), GradDrop(seed=10).aggregate(jac))
    torch.manual_seed(3)
    a = GradDrop().aggregate(jac)
    torch.manual_seed(3)
    torch.testing.assert_close(GradDrop().aggregate(jac), a)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shared_properties(dtype: torch.dtype) -> None:
    jac = torch.randn(4, 30, dtype=torch.float64).to(dtype)
    # same draws: P is symmetric in the tasks and invariant to a common scale
    assert_permutation_invariant(GradDrop(seed=1), jac)
    assert_permutation_invariant(GradDrop(), jac)
    assert_scale_equivariant(GradDrop(seed=1), jac)


def test_degenerate_and_state() -> None:
    assert_finite_on_degenerate(GradDrop())
    assert_finite_on_degenerate(GradDrop(leak=0.3, seed=2))
    restored = assert_state_round_trip(GradDrop(seed=5), torch.randn(3, 40))
    assert restored.rng_state is not None


def _paper_graddrop(
    per_task: torch.Tensor, a: torch.Tensor, u: torch.Tensor, leak: float = 0.0
) -> torch.Tensor:
    """The paper's Algorithm 1 / LibMTL on a batch, re-derived: per_task [T, B, F], activations a [B, F]:
    G = Σ_batch sign(A)∘∇ᵢ, P = ½(1 + ΣG/Σ|G|), one U per feature, Mᵢ from the signs of Gᵢ, tiled over
    the batch, new gradient Σᵢ (ℓ + (1−ℓ)Mᵢ)∘∇ᵢ."""
    g = (per_task * a.sign()).sum(dim=1)
    p = 0.5 * (1 + g.sum(0) / g.abs().sum(0))
    m = ((p > u) & (g > 0)) | ((p < u) & (g < 0))
    return (per_task * (leak + (1 - leak) * m.to(per_task.dtype)[:, None, :])).sum(0)


@pytest.mark.parametrize("leak", [0.0, 0.4])
def test_features_mode_sums_over_the_batch_first(leak: float) -> None:
    gen = torch.Generator().manual_seed(4)
    b, f = 6, 5
    a = torch.randn(b, f, generator=gen, dtype=torch.float64)
    per_task = torch.randn(3, b, f, generator=gen, dtype=torch.float64)
    u = torch.rand(f, generator=torch.Generator().manual_seed(7)).double()  # the draws GradDrop(seed=7) makes
    m = GradDrop(leak=leak, seed=7)
    m.on_features([a])
    d = m.aggregate(per_task.reshape(3, -1)).reshape(b, f)
    torch.testing.assert_close(d, _paper_graddrop(per_task, a, u, leak))
    if leak == 0.0:  # one mask per feature: every sample keeps the same tasks at feature j
        for j in range(f):
            subsets = [per_task[[i for i in range(3) if k >> i & 1], :, j].sum(0) for k in range(8)]
            assert any(torch.allclose(d[:, j], s) for s in subsets)
    # the hook is used once: the next bare call treats every column as a coordinate
    assert m._features is None


def test_features_hook_through_a_real_representation_and_several_blocks() -> None:
    enc = torch.nn.Linear(3, 4).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    z1, z2 = enc(x), torch.tanh(enc(x))[:, :2]
    losses = [(z1**2).sum() + z2.sum(), (z1 * 2).sum() - (z2**3).sum()]
    rows = [
        torch.cat([g.reshape(-1) for g in torch.autograd.grad(v, [z1, z2], retain_graph=True)])
        for v in losses
    ]
    jac = torch.stack(rows)
    m = GradDrop(seed=3)
    m.on_features([z1, z2])
    d = m.aggregate(jac)
    u = torch.rand(6, generator=torch.Generator().manual_seed(3)).double()
    per1, per2 = jac[:, :20].reshape(2, 5, 4), jac[:, 20:].reshape(2, 5, 2)
    g = torch.cat([(per1 * z1.detach().sign()).sum(1), (per2 * z2.detach().sign()).sum(1)], dim=1)
    p = 0.5 * (1 + g.sum(0) / g.abs().sum(0))
    keep = (((p > u) & (g > 0)) | ((p < u) & (g < 0))).double()
    expected = torch.cat(
        [(per1 * keep[:, None, :4]).sum(0).reshape(-1), (per2 * keep[:, None, 4:]).sum(0).reshape(-1)]
    )
    torch.testing.assert_close(d, expected)
    m.on_features([z1])
    with pytest.raises(ValueError, match="on_features"):
        m.aggregate(jac)


def test_backward_in_features_mode_hands_the_representation_to_graddrop() -> None:
    """``mt.backward(..., features=z)`` applies the paper's rule: one mask per feature coordinate."""

    def run(through_backward: bool) -> torch.Tensor:
        torch.manual_seed(1)
        enc = torch.nn.Linear(3, 4).double()
        x = torch.randn(6, 3, dtype=torch.float64)
        z = enc(x)
        losses = {"a": (z**2).sum(), "b": (torch.sin(z) * 3).sum()}
        m = GradDrop(seed=5)
        if through_backward:
            mt.backward(losses, m, shared=list(enc.parameters()), features=z)
        else:
            jac = torch.stack(
                [torch.autograd.grad(v, z, retain_graph=True)[0].reshape(-1) for v in losses.values()]
            )
            m.on_features([z])
            d = m.aggregate(jac).reshape(z.shape)
            torch.autograd.backward(z, grad_tensors=d, inputs=list(enc.parameters()))
        return torch.cat([p.grad.reshape(-1) for p in enc.parameters()])

    torch.testing.assert_close(run(True), run(False))
