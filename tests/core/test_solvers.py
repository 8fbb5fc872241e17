"""Solvers against hand-worked answers and an independent convex solver (cvxpy / Clarabel)."""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np
import pytest
import torch

from multitask.core.solvers import conflict_averse_weights, min_norm_weights, project_simplex

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _factor(g: np.ndarray) -> np.ndarray:
    """``A`` with ``AᵀA = G`` (for cvxpy's norm expressions)."""
    ev, vec = np.linalg.eigh(g)
    return (vec * np.sqrt(np.clip(ev, 0.0, None))).T


def _ref_min_norm(g: np.ndarray) -> tuple[np.ndarray, float]:
    w = cp.Variable(g.shape[0])
    prob = cp.Problem(cp.Minimize(cp.sum_squares(_factor(g) @ w)), [w >= 0, cp.sum(w) == 1])
    prob.solve(solver="CLARABEL")
    return np.asarray(w.value), float(prob.value)


def _ref_cagrad(g: np.ndarray, c: float) -> float:
    t = g.shape[0]
    b = np.full(t, 1.0 / t)
    w = cp.Variable(t)
    obj = (g @ b) @ w + c * math.sqrt(b @ g @ b) * cp.norm(_factor(g) @ w)
    prob = cp.Problem(cp.Minimize(obj), [w >= 0, cp.sum(w) == 1])
    prob.solve(solver="CLARABEL")
    return float(prob.value)


def _random_gramian(t: int, n: int, gen: torch.Generator) -> torch.Tensor:
    jac = torch.randn(t, n, generator=gen, dtype=torch.float64)
    jac = jac * (0.2 + 3.0 * torch.rand(t, 1, generator=gen, dtype=torch.float64))
    return jac @ jac.T


# ---- project_simplex ---------------------------------------------------------------------------
def test_project_simplex_hand_values() -> None:
    v = torch.tensor([[0.5, 0.5], [2.0, 0.0], [0.2, 0.1], [-1.0, -1.0]], dtype=torch.float64)
    # (0.2, 0.1) → shift by θ = (0.3 − 1)/2 = −0.35 → (0.55, 0.45)
    expected = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.55, 0.45], [0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(project_simplex(v), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_project_simplex_matches_cvxpy_batched(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(3)
    v = (3.0 * torch.randn(4, 3, 6, generator=gen, dtype=torch.float64)).to(dtype)
    out = project_simplex(v)
    assert out.shape == v.shape and out.dtype == dtype
    for vec, got in zip(v.reshape(-1, 6).double().numpy(), out.reshape(-1, 6).double().numpy()):
        w = cp.Variable(6)
        cp.Problem(cp.Minimize(cp.sum_squares(w - vec)), [w >= 0, cp.sum(w) == 1]).solve(solver="CLARABEL")
        np.testing.assert_allclose(got, w.value, atol=1e-5 if dtype == torch.float32 else 1e-7)


def test_project_simplex_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        project_simplex(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="non-finite"):
        project_simplex(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="non-empty"):
        project_simplex(torch.zeros(3, 0))


# ---- min-norm ------------------------------------------------------------------------------------
def test_min_norm_one_and_two_tasks_closed_form() -> None:
    assert min_norm_weights(torch.tensor([[4.0]])).tolist() == [1.0]
    # g₁ = (1, 0), g₂ = (0, 2): γ = (4 − 0)/(1 + 4) = 0.8
    g = torch.tensor([[1.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(min_norm_weights(g), torch.tensor([0.8, 0.2], dtype=torch.float64))
    # g₂ = 2 g₁: the shorter one is the min-norm point
    g = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float64)
    torch.testing.assert_close(min_norm_weights(g), torch.tensor([1.0, 0.0], dtype=torch.float64))
    # identical vectors: any split is optimal; the closed form's tie rule gives ½, ½
    torch.testing.assert_close(min_norm_weights(torch.ones(2, 2)), torch.tensor([0.5, 0.5]))


def test_min_norm_three_tasks_hand_values() -> None:
    # unit basis vectors: the centroid
    third = torch.full((3,), 1 / 3, dtype=torch.float64)
    torch.testing.assert_close(min_norm_weights(torch.eye(3, dtype=torch.float64)), third)
    # g = (1,0), (0,1), (2,2): the third is inactive, the midpoint of the first two is optimal
    jac = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]], dtype=torch.float64)
    expected = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
    torch.testing.assert_close(min_norm_weights(jac @ jac.T), expected)
    # (1,0), (−1,0), (0,1): the origin is in the hull
    jac = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    w = min_norm_weights(jac @ jac.T)
    assert float(w @ (jac @ jac.T) @ w) == pytest.approx(0.0, abs=1e-14)
    torch.testing.assert_close(w, torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64))


@pytest.mark.parametrize(("t", "n"), [(3, 8), (5, 9), (7, 12), (4, 3), (8, 5)])
def test_min_norm_matches_cvxpy(t: int, n: int) -> None:
    gen = torch.Generator().manual_seed(10 * t + n)
    for _ in range(3):
        g = _random_gramian(t, n, gen)
        w = min_norm_weights(g)
        ref_w, ref_val = _ref_min_norm(g.numpy())
        value = float(w @ g @ w)
        assert value == pytest.approx(ref_val, rel=1e-5, abs=1e-7)
        assert float(w.min()) >= 0.0 and float(w.sum()) == pytest.approx(1.0, abs=1e-12)
        if t <= n:  # full-rank Gramian: the weights are unique
            np.testing.assert_allclose(w.numpy(), ref_w, atol=1e-5)
        # KKT certificate: every vector's inner product with the min-norm point is ≥ its squared norm
        assert float((g @ w).min()) >= value - 1e-9 * float(g.diagonal().max())


def test_min_norm_batched_equals_loop_and_keeps_dtype() -> None:
    gen = torch.Generator().manual_seed(5)
    gs = torch.stack([_random_gramian(4, 6, gen) for _ in range(6)]).reshape(2, 3, 4, 4)
    out = min_norm_weights(gs)
    assert out.shape == (2, 3, 4)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(out[i, j], min_norm_weights(gs[i, j]))
    out32 = min_norm_weights(gs.float())
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, out.float(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_min_norm_degenerate_inputs_finite(dtype: torch.dtype) -> None:
    base = torch.randn(4, 3, dtype=torch.float64)
    mixed = torch.tensor([1.0, -2.0, 3.0, 0.5])
    same = torch.tensor([1.0, 2.0, 3.0])
    cases = [
        torch.zeros(4, 4),
        torch.outer(mixed, mixed),  # rank 1, opposite signs: 0 is in the hull
        torch.outer(same, same),  # collinear, same direction
        base @ base.T,  # T > n: rank-deficient
    ]
    for g in cases:
        w = min_norm_weights(g.to(dtype))
        assert torch.isfinite(w).all() and w.dtype == dtype
        assert float(w.sum()) == pytest.approx(1.0, abs=1e-5) and float(w.min()) >= 0.0
    # the weights do not depend on the scale of the gradients
    g = (base @ base.T)[:3, :3]
    ref = min_norm_weights(g)
    for s in (1e-8, 1e8):
        out = min_norm_weights((s * s * g).to(dtype))
        torch.testing.assert_close(out, ref.to(dtype), atol=1e-5, rtol=1e-4)


def test_min_norm_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        min_norm_weights(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="non-finite"):
        min_norm_weights(torch.tensor([[1.0, float("inf")], [float("inf"), 1.0]]))
    with pytest.raises(TypeError, match="floating"):
        min_norm_weights(torch.eye(2, dtype=torch.long))
    with pytest.raises(ValueError, match="max_iter"):
        min_norm_weights(torch.eye(3), max_iter=0)


# ---- CAGrad's sub-problem -------------------------------------------------------------------------
def _cagrad_objective(g: torch.Tensor, w: torch.Tensor, c: float) -> float:
    b = torch.full_like(w, 1.0 / w.numel())
    return float(w @ g @ b + c * torch.sqrt(b @ g @ b) * torch.sqrt((w @ g @ w).clamp_min(0)))


@pytest.mark.parametrize("c", [0.4, 0.1, 0.9, 2.0])
def test_conflict_averse_matches_cvxpy(c: float) -> None:
    gen = torch.Generator().manual_seed(int(c * 100))
    for t, n in [(3, 6), (5, 4), (6, 10)]:
        g = _random_gramian(t, n, gen)
        w = conflict_averse_weights(g, c)
        assert float(w.min()) >= 0.0 and float(w.sum()) == pytest.approx(1.0, abs=1e-12)
        assert _cagrad_objective(g, w, c) == pytest.approx(_ref_cagrad(g.numpy(), c), rel=1e-6, abs=1e-8)
        # optimality certificate (primal side): d = g₀ + c‖g₀‖ g_w/‖g_w‖ has its smallest inner product
        # with the task gradients on every task that carries weight
        b = torch.full((t,), 1.0 / t, dtype=torch.float64)
        gw_norm = torch.sqrt(w @ g @ w)
        inner = g @ b + c * torch.sqrt(b @ g @ b) * (g @ w) / gw_norm  # Jd, from the Gramian
        active = w > 1e-6
        assert float(inner[active].max() - inner.min()) <= 1e-6 * float(g.diagonal().max())


def test_conflict_averse_hand_values() -> None:
    # symmetric orthogonal pair: w = (½, ½) by symmetry
    g = torch.eye(2, dtype=torch.float64)
    torch.testing.assert_close(conflict_averse_weights(g, 0.4), torch.tensor([0.5, 0.5], dtype=torch.float64))
    # c = 0: minimise g_wᵀg₀ = wᵀ G b — the vector with the smallest inner product with the mean
    jac = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], dtype=torch.float64)
    w = conflict_averse_weights(jac @ jac.T, 0.0)
    torch.testing.assert_close(w, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    # one task: the only weight
    assert conflict_averse_weights(torch.tensor([[3.0]]), 0.4).tolist() == [1.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_conflict_averse_degenerate_and_scale(dtype: torch.dtype) -> None:
    v = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    cases = [
        torch.zeros(3, 3),
        torch.outer(torch.tensor([1.0, -2.0, 3.0]), torch.tensor([1.0, -2.0, 3.0])) * float(v @ v),
        torch.outer(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])),
        torch.tensor([[1.0, -1.0], [-1.0, 1.0]]),  # g₀ = 0
    ]
    for g in cases:
        w = conflict_averse_weights(g.to(dtype), 0.4)
        assert torch.isfinite(w).all() and w.dtype == dtype
        assert float(w.sum()) == pytest.approx(1.0, abs=1e-5)
    jac = torch.randn(4, 6, dtype=torch.float64)
    ref = conflict_averse_weights(jac @ jac.T, 0.4)
    for s in (1e-8, 1e8):
        out = conflict_averse_weights(((s * jac) @ (s * jac).T).to(dtype), 0.4)
        torch.testing.assert_close(out, ref.to(dtype), atol=1e-4, rtol=1e-3)


def test_conflict_averse_rejects_bad_c() -> None:
    with pytest.raises(ValueError, match="c must"):
        conflict_averse_weights(torch.eye(2), -0.1)
    with pytest.raises(ValueError, match="c must"):
        conflict_averse_weights(torch.eye(2), float("nan"))


def _count_masked_solves(module, gram: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, int]:
    calls = []
    original = module._solve_masked

    def counted(*args):
        calls.append(1)
        return original(*args)

    module._solve_masked = counted
    try:
        return module.dual_cone_weights(gram, u), len(calls)
    finally:
        module._solve_masked = original


@pytest.mark.parametrize("t, n", [(40, 6272), (40, 20), (29, 12), (12, 30), (8, 3)])
def test_dual_cone_warm_start_matches_lawson_hanson_from_scratch(t: int, n: int) -> None:
    """The batched solver starts each row from the tasks in conflict at λ = 0; the projection ``Jᵀv`` must
    be the one that plain Lawson–Hanson (one index at a time from λ = 0, ``_nnls_gram``) reaches, also for
    rank-deficient Gramians (T > n), duplicated tasks and gradients of very different scales."""
    from multitask.core.solvers import dual_cone as module

    gen = torch.Generator().manual_seed(t + n)
    jac = torch.randn(t, n, generator=gen, dtype=torch.float64)
    jac[1] = jac[0]
    jac[: t // 3] *= 1e-3
    gram = jac @ jac.T
    u = torch.eye(t, dtype=torch.float64) / t
    v, _ = _count_masked_solves(module, gram, u)
    g = gram / gram.diagonal().sum()
    ref = torch.stack([module._nnls_gram(g, row, 1e-12, 10 * t + 10) for row in u])
    scale = (u @ jac).norm(dim=1, keepdim=True)
    assert float(((v @ jac - ref @ jac) / scale).abs().max()) < 1e-9
    assert bool((v >= u - 1e-12).all()) and bool((v @ g >= -1e-10).all())


@pytest.mark.parametrize("seed", [0, 1])
def test_dual_cone_warm_start_takes_few_solves_on_network_gradients(seed: int) -> None:
    """40 cross-entropy heads on one representation: the tasks in conflict at λ = 0 are nearly the final
    free sets, so the batched solver needs a handful of batched solves where Lawson–Hanson from λ = 0 adds
    one index per solve (24–29 here, the size of the largest free set)."""
    from multitask.core.solvers import dual_cone as module

    torch.manual_seed(seed)
    t = 40
    enc = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU())
    heads = [torch.nn.Linear(32, 5) for _ in range(t)]
    z = enc(torch.randn(16, 20))
    rows = []
    for h in heads:
        loss = torch.nn.functional.cross_entropy(h(z), torch.randint(0, 5, (16,)))
        rows.append(torch.autograd.grad(loss, z, retain_graph=True)[0].reshape(-1))
    jac = torch.stack(rows).double()
    u = torch.eye(t, dtype=torch.float64) / t
    v, solves = _count_masked_solves(module, jac @ jac.T, u)
    largest_free = int(((v - u) > 1e-12).sum(dim=1).max())
    assert largest_free >= 20 and solves <= 10, (largest_free, solves)
