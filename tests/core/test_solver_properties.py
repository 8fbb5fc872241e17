"""Property tests of the solvers on random Gramians (hypothesis): any rank, any scale, duplicated tasks.

Each property is an optimality condition of the solver's problem, checked on the answer, so it holds
whatever the solver's path: the variational inequality of a projection, the Frank–Wolfe gap of a
problem over the simplex, the KKT conditions of the dual-cone projection.
"""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.methods.properties import jacobians

from multitask.core.solvers import (
    alpha_fair_weights,
    conflict_averse_weights,
    dual_cone_weights,
    min_norm_weights,
    normalized_fair_weights,
    project_simplex,
)

FAST = settings(max_examples=40, deadline=None, derandomize=True)


def _on_simplex(w: torch.Tensor) -> bool:
    return bool((w >= -1e-12).all()) and math.isclose(float(w.sum()), 1.0, abs_tol=1e-9)


@FAST
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=8))
def test_project_simplex_is_the_projection(values: list[float]) -> None:
    v = torch.tensor(values, dtype=torch.float64)
    p = project_simplex(v)
    assert _on_simplex(p)
    # p = π(v) iff (v − p)ᵀ(q − p) ≤ 0 for every q in the simplex; linear in q, so the vertices suffice
    slack = (v - p) - (v - p) @ p
    assert float(slack.max()) <= 1e-9 * max(1.0, float(v.abs().max()))


@FAST
@given(jacobians())
def test_min_norm_weights_close_the_frank_wolfe_gap(j: torch.Tensor) -> None:
    g = j @ j.T
    w = min_norm_weights(g)
    assert _on_simplex(w)
    scale = float(g.diagonal().max())
    if scale == 0.0:
        return
    gw = g @ w
    # optimal over the simplex iff every vertex is no better to first order: minᵢ (Gw)ᵢ ≥ wᵀGw
    assert float(w @ gw - gw.min()) <= 1e-6 * scale
    # the min-norm value (unique even when w is not) does not depend on the scale of G
    w_s = min_norm_weights(g * 1e4)
    assert math.isclose(float(w_s @ g @ w_s), float(w @ gw), rel_tol=1e-5, abs_tol=1e-9 * scale)


@FAST
@given(jacobians(), st.floats(0.0, 3.0))
def test_conflict_averse_weights_are_optimal(j: torch.Tensor, c: float) -> None:
    g = j @ j.T
    t = g.shape[0]
    w = conflict_averse_weights(g, c)
    assert _on_simplex(w)
    scale = float(g.diagonal().max())
    if scale == 0.0:
        return
    gn = g / scale
    b = torch.full((t,), 1.0 / t, dtype=torch.float64)
    a, root_beta = gn @ b, math.sqrt(max(float(b @ gn @ b), 0.0))

    def objective(x: torch.Tensor) -> float:
        return float(x @ a) + c * root_beta * math.sqrt(max(float(x @ gn @ x), 0.0))

    # no vertex, nor the centre, nor a few random points of the simplex does better
    gen = torch.Generator().manual_seed(0)
    points = project_simplex(torch.randn(8, t, generator=gen, dtype=torch.float64))
    others = [*torch.eye(t, dtype=torch.float64), b, *points]
    best = min(objective(x) for x in others)
    assert objective(w) <= best + 1e-7


@FAST
@given(jacobians(), st.integers(0, 2**31 - 1))
def test_dual_cone_weights_satisfy_the_kkt_conditions(j: torch.Tensor, seed: int) -> None:
    g = j @ j.T
    t = g.shape[0]
    u = torch.rand(t, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    v = dual_cone_weights(g, u)
    trace = float(g.diagonal().sum())
    if trace == 0.0:
        torch.testing.assert_close(v, u)
        return
    gv = (g / trace) @ v
    assert bool((v >= u - 1e-12).all())  # v ≥ u
    assert float(gv.min()) >= -1e-9  # J(Jᵀv) ≥ 0: the projection conflicts with no task
    assert float(((v - u) * gv).abs().max()) <= 1e-8 * max(1.0, float(v.abs().max()))  # complementarity


@FAST
@given(jacobians(), st.sampled_from([0.5, 1.0, 2.0, 5.0]))
def test_alpha_fair_weights_solve_their_system(j: torch.Tensor, alpha: float) -> None:
    g = j @ j.T
    eps = 1e-8
    w, scale = normalized_fair_weights(g, alpha, eps=eps)
    assert bool(torch.isfinite(w).all()) and bool((w >= 0).all())
    if scale == 0.0:
        assert bool((w == 0).all())
        return
    active = g.diagonal() > 0
    assert bool((w[active] > 0).all()) and bool((w[~active] == 0).all())  # zero gradient: weight 0
    # on the active tasks, ((G/s + εI) w)ᵢ · wᵢ^{1/α} = 1: the stationarity condition of the potential
    sub = (g / scale)[active][:, active] + eps * torch.eye(int(active.sum()), dtype=torch.float64)
    resid = (sub @ w[active]) * w[active].pow(1.0 / alpha) - 1.0
    assert float(resid.abs().max()) <= 1e-6
    # and the unnormalised answer is s^{-α/(α+1)} times the normalised one
    expected = w * scale ** (-alpha / (alpha + 1.0))
    torch.testing.assert_close(alpha_fair_weights(g, alpha, eps=eps), expected, rtol=1e-10, atol=0.0)


def test_conflict_averse_weights_with_a_vanishing_c() -> None:
    """Found by the property above: ``c ≈ 1e-20`` returned the wrong vertex (the root search's bracket
    ``[0, 1/(c√β)]`` does not resolve in float64); a vanishing ``c`` now gives the ``c = 0`` answer."""
    j = torch.tensor([[-2.5014], [0.5697]], dtype=torch.float64)
    expected = torch.tensor([0.0, 1.0], dtype=torch.float64)  # minimises g_wᵀg₀: the task along g₀
    for c in (0.0, 1e-20, 1e-300):
        torch.testing.assert_close(conflict_averse_weights(j @ j.T, c), expected)
