import cvxpy as cp
import numpy as np
import pytest
import torch
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_finite_on_degenerate,
    assert_non_conflicting,
    assert_permutation_invariant,
    assert_scale_equivariant,
    train_encoder_only,
)

import multitask as mt
from multitask.core.solvers import dual_cone_weights
from multitask.methods import UPGrad

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _cvxpy_projection(jac: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Reference: argmin ‖y − x‖ subject to J y ≥ 0, solved in the primal (n dimensions)."""
    y = cp.Variable(jac.shape[1])
    cp.Problem(cp.Minimize(cp.sum_squares(y - x)), [jac @ y >= 0]).solve(solver=cp.CLARABEL)
    return y.value


def test_registered():
    assert isinstance(mt.create_method("upgrad"), UPGrad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_tasks_hand_values(dtype):
    # g1 = (1,0), g2 = (-1,1): π(g1/2) = (¼,¼) = ½g1 + ¼g2 ... d = (¼,¾), w = (1, ¾)
    jac = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=dtype)
    m = UPGrad()
    d = m.aggregate(jac)
    torch.testing.assert_close(d, torch.tensor([0.25, 0.75], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([1.0, 0.75], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_tasks_hand_values(dtype):
    # π(g1/3) = (1/6,0,1/6), π(g2/3) = g2/3, π(g3/3) = (0,0,1/3): d = (1/6,1/3,1/2), w = (2/3,1/3,1/2)
    jac = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 1.0]], dtype=dtype)
    m = UPGrad()
    d = m.aggregate(jac)
    torch.testing.assert_close(d, torch.tensor([1 / 6, 1 / 3, 1 / 2], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([2 / 3, 1 / 3, 1 / 2], dtype=dtype))


def test_no_conflict_gives_the_mean():
    jac = torch.tensor([[1.0, 0.2, 0.0], [0.3, 1.0, 0.1], [0.0, 0.5, 2.0]], dtype=torch.float64)
    m = UPGrad()
    torch.testing.assert_close(m.aggregate(jac), jac.mean(dim=0))
    torch.testing.assert_close(m.last_weights, torch.full((3,), 1 / 3, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(6))
def test_matches_cvxpy_projections(seed):
    gen = torch.Generator().manual_seed(seed)
    t, n = 2 + seed % 4, 7
    jac = torch.randn(t, n, generator=gen, dtype=torch.float64)
    jac[0] = -jac[1] + 0.3 * torch.randn(n, generator=gen, dtype=torch.float64)  # force a conflict
    expected = np.mean([_cvxpy_projection(jac.numpy(), g) for g in jac.numpy()], axis=0)
    np.testing.assert_allclose(UPGrad().aggregate(jac).numpy(), expected, atol=1e-6)


def test_dual_cone_weights_kkt_on_random_problems():
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        jac = torch.randn(5, 4, generator=gen, dtype=torch.float64)  # T > n: singular Gramian
        gram = jac @ jac.T
        u = torch.rand(5, generator=gen, dtype=torch.float64)
        v = dual_cone_weights(gram, u)
        gv = gram @ v / gram.diagonal().sum()
        assert (v >= u - 1e-12).all()
        assert (gv >= -1e-10).all()
        assert float(((v - u) * gv).abs().max()) < 1e-10  # complementary slackness


@pytest.mark.parametrize("dtype", DTYPES)
def test_never_conflicts_on_random_jacobians(dtype):
    gen = torch.Generator().manual_seed(1)
    for k in range(15):
        t = 2 + k % 5
        jac = torch.randn(t, 6, generator=gen, dtype=torch.float64).to(dtype)
        assert_non_conflicting(UPGrad(), jac)
        assert_direction_matches_weights(UPGrad(), jac)


def test_weights_at_least_preference_and_permutation_invariant():
    jac = torch.randn(4, 6, dtype=torch.float64)
    m = UPGrad()
    m.aggregate(jac)
    assert (m.last_weights >= 0.25 - 1e-12).all()
    assert_permutation_invariant(UPGrad(), jac)
    assert_scale_equivariant(UPGrad(), jac)


def test_pref_vector_and_errors():
    jac = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    m = UPGrad(pref_vector=torch.tensor([0.7, 0.3]))
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([0.7, 0.3], dtype=torch.float64))
    with pytest.raises(ValueError, match="pref_vector has 2 entries for 3 tasks"):
        m.aggregate(torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-negative"):
        UPGrad(pref_vector=[1.0, -1.0])
    with pytest.raises(ValueError, match="shape"):
        UPGrad().aggregate(torch.ones(3))


def test_finite_on_degenerate_jacobians():
    assert_finite_on_degenerate(UPGrad())


@pytest.mark.parametrize("features", [False, True])
def test_end_to_end_three_regression_tasks(features):
    first, last = train_encoder_only(UPGrad(), features)
    assert last < 0.9 * first


def test_batched_projection_falls_back_per_row(monkeypatch):
    """Rows whose batched free-set solve is not trusted are re-solved alone: same weights."""
    from multitask.core.solvers import dual_cone as module

    torch.manual_seed(3)
    j = torch.randn(6, 4, dtype=torch.float64)  # T > n: a singular Gramian
    g = j @ j.T
    eye = torch.eye(6, dtype=torch.float64) / 6
    ref = module.dual_cone_weights(g, eye)
    original = module._solve_masked

    def half_untrusted(*args, **kwargs):
        sol, ok = original(*args, **kwargs)
        ok = ok.clone()
        ok[::2] = False
        return sol, ok

    monkeypatch.setattr(module, "_solve_masked", half_untrusted)
    got = module.dual_cone_weights(g, eye)
    torch.testing.assert_close(got, ref, atol=1e-9, rtol=1e-7)
    gn = g / g.diagonal().sum()
    assert bool(((gn @ got.T) >= -1e-9).all())  # every projected direction conflicts with no task
    assert bool((got >= eye - 1e-12).all())  # v >= u
