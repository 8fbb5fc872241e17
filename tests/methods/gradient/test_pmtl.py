"""Pareto MTL: preference vectors, warm-up and constrained directions by hand, the QP by cvxpy,
descent on violated constraints, a spread of solutions over a known front."""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest
import torch
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_scale_equivariant,
    assert_state_round_trip,
    degenerate_jacobians,
    run,
    train_two_layer,
)

import multitask as mt
from multitask.methods import PMTL
from multitask.methods.gradient.pmtl import pmtl_preferences

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _t(x: list, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype)


# ---- preference vectors ---------------------------------------------------------------------------
def test_two_task_preferences_are_the_official_circle_points() -> None:
    u = pmtl_preferences(2, 5)
    angles = [0.0, math.pi / 8, math.pi / 4, 3 * math.pi / 8, math.pi / 2]
    torch.testing.assert_close(u, _t([[math.cos(a), math.sin(a)] for a in angles]))


def test_three_task_preferences_come_from_the_simplex_lattice() -> None:
    s = 1 / math.sqrt(2)
    # k = 6 is the whole lattice with H = 2, in lexicographically decreasing order
    expected = [[1, 0, 0], [s, s, 0], [s, 0, s], [0, 1, 0], [0, s, s], [0, 0, 1]]
    torch.testing.assert_close(pmtl_preferences(3, 6), _t(expected))
    # k = 4: the three vertices first, then the first lattice point farthest from them
    torch.testing.assert_close(pmtl_preferences(3, 4), _t([[1, 0, 0], [0, 1, 0], [0, 0, 1], [s, s, 0]]))
    for t, k in [(3, 5), (4, 7), (5, 3)]:
        u = pmtl_preferences(t, k)
        assert u.shape == (k, t) and bool((u >= 0).all())
        torch.testing.assert_close(u.norm(dim=1), torch.ones(k, dtype=torch.float64))
        assert len({tuple(row.tolist()) for row in u}) == k
    torch.testing.assert_close(
        pmtl_preferences(3, 1), torch.full((1, 3), 1 / math.sqrt(3), dtype=torch.float64)
    )
    torch.testing.assert_close(pmtl_preferences(1, 3), torch.ones(3, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="k must be >= 1"):
        pmtl_preferences(2, 0)
    with pytest.raises(TypeError, match="num_tasks"):
        pmtl_preferences(2.0, 3)  # type: ignore[arg-type]


# ---- the update -----------------------------------------------------------------------------------
def test_registered_and_arguments() -> None:
    m = mt.create_method("pmtl", num_tasks=2, preference_index=1, num_preferences=3)
    assert isinstance(m, PMTL) and m.needs == "gramian" and m.uses_losses and m.supports_features
    torch.testing.assert_close(m.preference, _t([math.cos(math.pi / 4), math.sin(math.pi / 4)]))
    with pytest.raises(ValueError, match=r"preference_index must lie in \[0, 2\]"):
        PMTL(2, preference_index=3, num_preferences=3)
    with pytest.raises(ValueError, match="warmup_steps"):
        PMTL(2, warmup_steps=-1)
    with pytest.raises(ValueError, match="built for 2 tasks"):
        PMTL(2).aggregate(torch.randn(3, 4), torch.ones(3))
    with pytest.raises(ValueError, match="needs the loss values"):
        PMTL(2).aggregate(torch.randn(2, 4))


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_tasks_by_hand(dtype: torch.dtype) -> None:
    # u₀ = (1, 0), u₁ = (0, 1); run k = 0: G₁ = (u₁ − u₀)ᵀL/‖L‖ = (L₂ − L₁)/‖L‖, active when L₂ > L₁
    jac = torch.eye(2, dtype=dtype)
    losses = _t([1.0, 2.0], dtype)
    # warm-up: d = ∇G₁ = g₂ − g₁
    m = PMTL(2, preference_index=0, num_preferences=2)
    torch.testing.assert_close(m.aggregate(jac, losses), _t([-1.0, 1.0], dtype))
    torch.testing.assert_close(m.last_weights, _t([-1.0, 1.0], dtype))
    torch.testing.assert_close(m.last_constraints, _t([0.0, 1 / math.sqrt(5)], dtype))
    assert m.in_warmup
    # main phase: min-norm point of {e₁, e₂, (−1, 1)} is 0.6 e₁ + 0.4 (−1, 1) = (0.2, 0.4)
    # (its inner products with e₁, (−1, 1) equal ‖p‖² = 0.2, with e₂ 0.4 ≥ 0.2); w = (0.2, 0.4) → ×2/0.6
    m = PMTL(2, preference_index=0, num_preferences=2, warmup_steps=0)
    torch.testing.assert_close(m.aggregate(jac, losses), _t([2 / 3, 4 / 3], dtype))
    # feasible point (L₁ > L₂): plain MGDA, (½, ½) → ×2
    m = PMTL(2, preference_index=0, num_preferences=2)
    torch.testing.assert_close(m.aggregate(jac, _t([2.0, 1.0], dtype)), _t([1.0, 1.0], dtype))
    assert not m.in_warmup


def test_warmup_with_two_violated_constraints_by_hand() -> None:
    # T = 2, K = 3, run k = 0 (u₀ = e₁); losses (1, 3) violate both G₁ and G₂ (u₁ = (s, s), u₂ = e₂)
    s = 1 / math.sqrt(2)
    m = PMTL(2, preference_index=0, num_preferences=3)
    jac = torch.eye(2, dtype=torch.float64)
    d = m.aggregate(jac, _t([1.0, 3.0]))
    # ∇G₁ = (s − 1, s), ∇G₂ = (−1, 1); min-norm point of the segment between them:
    a, b = np.array([s - 1, s]), np.array([-1.0, 1.0])
    gamma = float(np.clip((b @ b - a @ b) / (a @ a + b @ b - 2 * a @ b), 0, 1))
    torch.testing.assert_close(d, torch.from_numpy(gamma * a + (1 - gamma) * b))
    assert bool(m.last_active[1:].all()) and not bool(m.last_active[0])


def _qp_reference(jac: np.ndarray, grads_g: np.ndarray) -> np.ndarray:
    """The paper's sub-problem ``min α + ½‖d‖²`` s.t. ``gᵢᵀd ≤ α``, ``∇G_jᵀd ≤ α`` (descent ``d``)."""
    vecs = np.vstack([jac, grads_g])
    d = cp.Variable(jac.shape[1])
    alpha = cp.Variable()
    prob = cp.Problem(cp.Minimize(alpha + 0.5 * cp.sum_squares(d)), [vecs @ d <= alpha])
    prob.solve(solver="CLARABEL")
    return np.asarray(d.value)


def test_main_phase_direction_solves_the_papers_qp() -> None:
    gen = torch.Generator().manual_seed(11)
    for _ in range(4):
        jac = torch.randn(3, 6, generator=gen, dtype=torch.float64)
        losses = torch.rand(3, generator=gen, dtype=torch.float64) + 0.1
        m = PMTL(3, preference_index=2, num_preferences=5, warmup_steps=0)
        d = m.aggregate(jac, losses)
        u = m.preferences
        diff = (u - u[2])[m.last_active]
        ref = _qp_reference(jac.numpy(), (diff @ jac).numpy())
        # the method returns −d* rescaled by T/Σ|w|: same direction
        cos = float(d @ torch.from_numpy(-ref)) / (float(d.norm()) * np.linalg.norm(ref))
        assert cos == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_direction_reduces_every_violated_constraint(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(2)
    checked = 0
    for trial in range(12):
        jac = torch.randn(3, 8, generator=gen, dtype=torch.float64)
        losses = torch.rand(3, generator=gen, dtype=torch.float64) + 0.05
        for warm in (100, 0):
            m = PMTL(3, preference_index=trial % 5, num_preferences=5, warmup_steps=warm)
            d = m.aggregate(jac.to(dtype), losses.to(dtype)).double()
            active = m.last_active
            if not bool(active.any()):
                continue
            diff = (m.preferences - m.preferences[m.preference_index])[active]
            tol = 1e-5 if dtype == torch.float32 else 1e-10
            # ∇G_jᵀd > 0: a step θ − ηd lowers every violated G_j to first order
            assert bool(((diff @ jac) @ d > tol).all())
            if warm == 0:  # main phase: no task loss goes up either
                assert bool((jac @ d >= -tol).all())
            checked += 1
    assert checked >= 8


def test_warmup_ends_at_a_feasible_point_or_after_warmup_steps() -> None:
    jac = torch.eye(2, dtype=torch.float64)
    m = PMTL(2, preference_index=0, num_preferences=2, warmup_steps=2)
    for _ in range(2):
        m.aggregate(jac, _t([1.0, 2.0]))
        assert m.in_warmup
    m.aggregate(jac, _t([1.0, 2.0]))  # the cap is reached: main phase although still infeasible
    assert not m.in_warmup
    torch.testing.assert_close(m.last_weights, _t([2 / 3, 4 / 3]))
    m.reset()
    assert m.in_warmup and m.step_count == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_scale_equivariant_and_weights(dtype: torch.dtype) -> None:
    jac = torch.randn(3, 6, dtype=torch.float64).to(dtype)
    losses = _t([0.3, 1.0, 0.6], dtype)
    for warm in (0, 100):
        assert_scale_equivariant(PMTL(3, preference_index=1, warmup_steps=warm), jac, losses)
        assert_direction_matches_weights(PMTL(3, preference_index=1, warmup_steps=warm), jac, losses)


def test_degenerate_inputs_and_state() -> None:
    for dtype in DTYPES:
        for name, jac in degenerate_jacobians(dtype):
            t = jac.shape[0]
            for warm in (0, 100):
                losses = torch.linspace(0.5, 2.0, t, dtype=dtype) if t > 1 else torch.ones(1, dtype=dtype)
                d, w = run(PMTL(t, preference_index=0, num_preferences=3, warmup_steps=warm), jac, losses)
                assert d.shape == (jac.shape[1],) and d.dtype == dtype, name
                assert torch.isfinite(d).all() and torch.isfinite(w).all(), name
                if name == "zero":
                    assert float(d.abs().max()) == 0.0
        zero_losses = run(PMTL(3), torch.randn(3, 4, dtype=dtype), torch.zeros(3, dtype=dtype))[0]
        assert torch.isfinite(zero_losses).all()
    restored = assert_state_round_trip(PMTL(3, preference_index=4, warmup_steps=2), torch.randn(3, 5))
    assert restored.in_warmup is False


def test_runs_spread_over_a_known_pareto_front() -> None:
    # L₁ = ‖θ − a‖², L₂ = ‖θ − b‖²: the front is the segment [a, b]. One run per preference.
    a, b = _t([1.0, 0.0]), _t([0.0, 1.0])
    angles = []
    for k in range(4):
        theta = torch.tensor([1.5, 2.5], dtype=torch.float64, requires_grad=True)
        method = PMTL(2, preference_index=k, num_preferences=4, warmup_steps=50)
        opt = torch.optim.SGD([theta], lr=0.02)
        for _ in range(300):
            losses = [((theta - a) ** 2).sum(), ((theta - b) ** 2).sum()]
            mt.backward(losses, method, shared=[theta])
            opt.step()
            opt.zero_grad()
        final = torch.stack([((theta - a) ** 2).sum(), ((theta - b) ** 2).sum()]).detach()
        # on the front: θ on the segment [a, b], so √L₁ + √L₂ = ‖a − b‖ = √2
        assert float(final.sqrt().sum()) == pytest.approx(math.sqrt(2), abs=2e-2)
        # inside its own cone: every constraint satisfied (up to the step size)
        assert float(method.last_constraints.max()) < 2e-2
        angles.append(math.degrees(math.atan2(float(final[1]), float(final[0]))))
        # the cone of uₖ (at 30k degrees) holds the loss vectors within 15 degrees of it
        assert abs(angles[-1] - 30.0 * k) <= 15.0 + 0.5, (k, angles)
    assert all(x < y for x, y in zip(angles, angles[1:])), angles


@pytest.mark.parametrize("features", [False, True])
def test_end_to_end_lowers_the_loss(features: bool) -> None:
    method = PMTL(3, preference_index=2, num_preferences=5, warmup_steps=10)
    first, last = train_two_layer(method, features=features)
    assert last < 0.5 * first


def test_a_single_run_defaults_to_the_middle_preference() -> None:
    # official circle_points for T = 2, K = 5: angles 0, π/8, …, π/2; the middle one is u = (1, 1)/√2
    m = PMTL(num_tasks=2)
    assert m.preference_index == 2
    torch.testing.assert_close(m.preference, torch.full((2,), 2**-0.5, dtype=torch.float64))
    assert PMTL(2, num_preferences=3).preference_index == 1
    assert PMTL(2, num_preferences=4).preference_index == 1  # 30° and 60° tie: the lower index
    # T = 3: the preference closest in angle to the diagonal
    m3 = PMTL(3, num_preferences=7)
    diag = torch.full((3,), 3**-0.5, dtype=torch.float64)
    assert float(m3.preference @ diag) == pytest.approx(float((m3.preferences @ diag).max()))
    assert float(m3.preference @ diag) > 0.8


def test_missing_num_tasks_says_what_to_pass() -> None:
    with pytest.raises(TypeError, match=r"PMTL needs num_tasks=T.*create_method\('pmtl', num_tasks=T\)"):
        PMTL()
    with pytest.raises(TypeError, match="num_tasks=T"):
        mt.create_method("pmtl")
