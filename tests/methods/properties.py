"""Shared property assertions and end-to-end training runs for gradient methods (reused by every
method's tests).

Every helper takes ``method``: either an *unused* :class:`GradientMethod` instance (deep-copied before
each call, so stateful methods start from the same state every time) or a zero-argument factory.
Random methods draw from torch's global generator, which is re-seeded before each call, or from their
own seeded generator, which the deep copy duplicates — so two calls see the same random numbers.

Import as ``from tests.methods.properties import assert_non_conflicting, ...`` (the test command runs
from the repository root).
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Iterator, Sequence

import torch
from hypothesis import strategies as st
from torch import Tensor, nn

import multitask as mt
from multitask.methods.base import GradientMethod

MethodLike = GradientMethod | Callable[[], GradientMethod]

__all__ = [
    "MethodLike",
    "assert_direction_matches_weights",
    "assert_finite_on_degenerate",
    "assert_non_conflicting",
    "assert_permutation_invariant",
    "assert_scale_equivariant",
    "assert_state_round_trip",
    "degenerate_jacobians",
    "fresh",
    "jacobians",
    "run",
    "tolerances",
    "train_encoder_only",
    "train_two_layer",
]


def fresh(method: MethodLike) -> GradientMethod:
    """A new method in the state ``method`` was given in (deep copy, or a call of the factory)."""
    if isinstance(method, nn.Module):
        return copy.deepcopy(method)
    made = method()
    if not isinstance(made, GradientMethod):
        raise TypeError(f"the factory returned {type(made).__name__}, not a GradientMethod")
    return made


def tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """``(rtol, atol)`` suited to a dtype (float32 carries ~7 digits, float64 ~16)."""
    return (1e-4, 1e-5) if dtype == torch.float32 else (1e-8, 1e-10)


def _losses_for(method: GradientMethod, t: int, like: Tensor) -> Tensor | None:
    if not method.uses_losses:
        return None
    return torch.linspace(0.5, 2.0, t, dtype=like.dtype, device=like.device) if t > 1 else like.new_ones(1)


def run(
    method: MethodLike, jacobian: Tensor, losses: Tensor | None = None, *, seed: int = 0
) -> tuple[Tensor, Tensor | None]:
    """``(direction, last_weights)`` of one ``aggregate`` call on a fresh copy, global RNG seeded."""
    m = fresh(method)
    if losses is None:
        losses = _losses_for(m, jacobian.shape[0], jacobian)
    torch.manual_seed(seed)
    d = m.aggregate(jacobian, losses)
    return d, m.last_weights


def _assert_close(actual: Tensor, expected: Tensor, rtol: float, atol: float, what: str) -> None:
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, msg=lambda m: f"{what}: {m}")


def assert_direction_matches_weights(
    method: MethodLike, jacobian: Tensor, losses: Tensor | None = None
) -> None:
    """When a method reports weights, its direction must be ``wᵀJ``."""
    d, w = run(method, jacobian, losses)
    if w is None:
        raise AssertionError("the method reported no weights")
    rtol, atol = tolerances(jacobian.dtype)
    scale = float(jacobian.abs().max()) * max(1.0, float(w.abs().sum()))
    _assert_close(d, w.to(jacobian.dtype) @ jacobian, rtol, atol * max(scale, 1.0), "direction vs wᵀJ")


def assert_permutation_invariant(
    method: MethodLike,
    jacobian: Tensor,
    losses: Tensor | None = None,
    *,
    perms: Sequence[Sequence[int]] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Permuting the tasks (rows of ``J``, entries of ``losses``) leaves the direction unchanged and
    permutes the reported weights the same way."""
    t = jacobian.shape[0]
    d_rtol, d_atol = tolerances(jacobian.dtype)
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol * max(1.0, float(jacobian.abs().max())) if atol is None else atol
    if losses is None:
        losses = _losses_for(fresh(method), t, jacobian)
    d, w = run(method, jacobian, losses)
    if perms is None:
        perms = [list(reversed(range(t))), [*range(1, t), 0]]
    for perm in perms:
        p = torch.as_tensor(list(perm), device=jacobian.device)
        d_p, w_p = run(method, jacobian[p], None if losses is None else losses[p])
        _assert_close(d_p, d, rtol, atol, f"direction under permutation {list(perm)}")
        if w is not None:
            if w_p is None:
                raise AssertionError("weights reported for one order of the tasks but not another")
            _assert_close(w_p, w[p], rtol, atol, f"weights under permutation {list(perm)}")


def assert_non_conflicting(
    method: MethodLike, jacobian: Tensor, losses: Tensor | None = None, *, atol: float | None = None
) -> Tensor:
    """The direction has a non-negative inner product with every task gradient (up to tolerance
    relative to ``max ‖gₜ‖²``). Returns the direction."""
    d, _ = run(method, jacobian, losses)
    inner = jacobian @ d
    scale = float((jacobian * jacobian).sum(dim=1).max())
    tol = (1e-5 if jacobian.dtype == torch.float32 else 1e-9) * scale if atol is None else atol
    bad = (inner < -tol).nonzero().flatten().tolist()
    if bad:
        raise AssertionError(f"direction conflicts with tasks {bad}: inner products {inner.tolist()}")
    return d


@st.composite
def jacobians(
    draw: st.DrawFn, *, max_tasks: int = 5, max_cols: int = 6, full_rank: bool = False, max_exponent: int = 6
) -> Tensor:
    """Hypothesis strategy: a random ``[T, n]`` float64 Jacobian.

    ``full_rank=False``: any rank ``r`` in ``0 .. min(T, n)`` (``T > n`` allowed), scaled by ``10^k``
    (``|k| <= max_exponent``), sometimes with a duplicated or a zero row: the degenerate cases a method
    must survive. ``full_rank=True``: ``T <= n`` Gaussian rows (rank ``T`` almost surely) with norms in
    ``[0.1, 1.1]`` times the scale, where the weights are unique and the properties exact.
    """
    t = draw(st.integers(1, max_tasks))
    n = draw(st.integers(t, max(max_cols, t))) if full_rank else draw(st.integers(1, max_cols))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    scale = 10.0 ** draw(st.integers(-max_exponent, max_exponent))
    f64 = torch.float64
    if full_rank:
        j = torch.randn(t, n, generator=gen, dtype=f64)
        j = j / torch.linalg.vector_norm(j, dim=1, keepdim=True)
    else:
        r = draw(st.integers(0, min(t, n)))
        j = torch.randn(t, r, generator=gen, dtype=f64) @ torch.randn(r, n, generator=gen, dtype=f64)
    j = j * (0.1 + torch.rand(t, 1, generator=gen, dtype=f64))
    extra = "none" if full_rank or t == 1 else draw(st.sampled_from(["none", "duplicate", "zero_row"]))
    if extra == "duplicate":
        j[1] = j[0]
    elif extra == "zero_row":
        j[-1] = 0.0
    return scale * j


def degenerate_jacobians(dtype: torch.dtype) -> Iterator[tuple[str, Tensor]]:
    """Named degenerate Jacobians: zero, one task, rank-1, collinear, duplicated, opposite, extreme scales."""
    gen = torch.Generator().manual_seed(1234)
    v = torch.randn(5, generator=gen, dtype=torch.float64)
    base = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    cases = {
        "zero": torch.zeros(3, 5, dtype=torch.float64),
        "one_task": base[:1],
        "rank1_mixed_signs": torch.outer(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64), v),
        "collinear_same_direction": torch.outer(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), v),
        "duplicated_rows": torch.stack([base[0], base[0], base[1]]),
        "opposite": torch.stack([v, -v]),
        "one_zero_row": torch.stack([base[0], torch.zeros(5, dtype=torch.float64), base[1]]),
        "scale_1e-8": 1e-8 * base,
        "scale_1e8": 1e8 * base,
        "mixed_scales_1e-8_to_1e8": base * torch.tensor([[1e-8], [1.0], [1e8]], dtype=torch.float64),
    }
    for name, jac in cases.items():
        yield name, jac.to(dtype)


def assert_finite_on_degenerate(
    method: MethodLike, dtypes: Sequence[torch.dtype] = (torch.float32, torch.float64)
) -> None:
    """Finite direction (of the right shape and dtype) and finite weights on every degenerate case;
    a zero Jacobian gives a zero direction."""
    for dtype in dtypes:
        for name, jac in degenerate_jacobians(dtype):
            d, w = run(method, jac)
            where = f"{name} ({dtype})"
            if d.shape != (jac.shape[1],) or d.dtype != dtype:
                raise AssertionError(f"{where}: direction has shape {tuple(d.shape)} and dtype {d.dtype}")
            if not torch.isfinite(d).all():
                raise AssertionError(f"{where}: non-finite direction {d.tolist()}")
            if w is not None and not torch.isfinite(w).all():
                raise AssertionError(f"{where}: non-finite weights {w.tolist()}")
            if name == "zero" and d.abs().max() != 0:
                raise AssertionError(f"{where}: zero Jacobian gave the direction {d.tolist()}")


def assert_scale_equivariant(
    method: MethodLike,
    jacobian: Tensor,
    losses: Tensor | None = None,
    *,
    scales: Sequence[float] = (1e-3, 7.0, 1e3),
    degree: float = 1.0,
    rtol: float | None = None,
) -> None:
    """``aggregate(s·J) = s^degree · aggregate(J)`` (degree 1: the method's weights ignore the scale)."""
    d_rtol, d_atol = tolerances(jacobian.dtype)
    rtol = d_rtol * 10 if rtol is None else rtol
    d, _ = run(method, jacobian, losses)
    for s in scales:
        d_s, _ = run(method, s * jacobian, losses)
        expected = d * s**degree
        atol = d_atol * float(expected.abs().max().clamp_min(1.0))
        _assert_close(d_s, expected, rtol, atol, f"direction at scale {s}")


def assert_state_round_trip(
    method: MethodLike,
    jacobian: Tensor,
    losses: Tensor | None = None,
    *,
    steps: int = 3,
) -> GradientMethod:
    """After ``steps`` calls, ``state_dict()`` saved with ``torch.save`` and loaded with
    ``torch.load(weights_only=True)`` into a fresh method reproduces the next step exactly.
    Returns the restored method."""
    m = fresh(method)
    if losses is None:
        losses = _losses_for(m, jacobian.shape[0], jacobian)
    for k in range(steps):
        torch.manual_seed(100 + k)
        factor = 1.0 + 0.25 * k
        m.aggregate(jacobian * factor, None if losses is None else losses * factor)
    buffer = io.BytesIO()
    torch.save(m.state_dict(), buffer)
    buffer.seek(0)
    restored = fresh(method)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    if restored.step_count != m.step_count:
        raise AssertionError(f"step_count {restored.step_count} restored as {m.step_count}")
    torch.manual_seed(7)
    expected = m.aggregate(jacobian, losses)
    torch.manual_seed(7)
    actual = restored.aggregate(jacobian, losses)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)
    return restored


def train_encoder_only(method: nn.Module, features: bool, steps: int = 20) -> tuple[float, float]:
    """Total loss at the first and the last of ``steps`` SGD steps (lr 0.1) of ``multitask.backward``.

    Data: 64 seeded inputs in R⁵ and three regression targets (linear, ``sin``, a product of two
    inputs). Model: a shared encoder ``Linear(5, 16) → Tanh`` and three ``Linear(16, 1)`` heads. Only
    the encoder learns (heads fixed), so the fall in loss is the method's doing. ``features``: pass the
    representation ``z`` (features mode) rather than ``None`` (parameters mode).
    """
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = torch.cat([x @ torch.randn(5, 1), torch.sin(x[:, :1]), x[:, 1:2] * x[:, 2:3]], dim=1)
    enc = nn.Sequential(nn.Linear(5, 16), nn.Tanh())
    heads = nn.ModuleList(nn.Linear(16, 1) for _ in range(3))
    opt = torch.optim.SGD(enc.parameters(), lr=0.1)
    totals = []
    for _ in range(steps):
        z = enc(x)
        losses = {f"t{i}": ((h(z)[:, 0] - y[:, i]) ** 2).mean() for i, h in enumerate(heads)}
        totals.append(float(sum(v.detach() for v in losses.values())))
        opt.zero_grad()
        mt.backward(losses, method, shared=enc.parameters(), features=z if features else None)
        opt.step()
    return totals[0], totals[-1]


def train_two_layer(
    method: nn.Module,
    *,
    features: bool,
    steps: int = 30,
    lr: float = 0.1,
    rotate: bool = False,
    method_lr: float | None = None,
) -> tuple[float, float]:
    """Total loss before and after ``steps`` SGD steps of ``multitask.backward`` on a two-layer network.

    Data: 32 seeded inputs in R⁵ and three targets ``tanh(x·aₖ)``. Model: a shared encoder
    ``Linear(5, 16) → Tanh`` and three ``Linear(16, 1)`` heads, all trained with SGD at ``lr``, with MSE
    losses; ``steps + 1`` losses are recorded (the last after the last step).

    - ``features``: pass the representation ``z`` to ``multitask.backward`` (features mode).
    - ``rotate``: feed head ``k`` with ``method.rotate(z)[k]`` (RotoGrad); the method then sees ``z``
      whatever ``features`` says.
    - ``method_lr``: ``None`` puts the method's own parameters into the same SGD optimizer; a number
      gives them their own Adam optimizer at that learning rate.
    """
    torch.manual_seed(0)
    x = torch.randn(32, 5)
    ys = [torch.tanh(x @ torch.randn(5, 1)) for _ in range(3)]
    enc = nn.Sequential(nn.Linear(5, 16), nn.Tanh())
    heads = nn.ModuleList(nn.Linear(16, 1) for _ in range(3))
    model_params = [*enc.parameters(), *heads.parameters()]
    if method_lr is None:
        optimizers = [torch.optim.SGD([*model_params, *method.parameters()], lr=lr)]
    else:
        optimizers = [
            torch.optim.SGD(model_params, lr=lr),
            torch.optim.Adam(method.parameters(), lr=method_lr),
        ]
    totals = []
    for _ in range(steps + 1):
        z = enc(x)
        zs = method.rotate(z) if rotate else [z] * 3
        losses = {f"t{k}": nn.functional.mse_loss(heads[k](zs[k]), ys[k]) for k in range(3)}
        totals.append(sum(float(v.detach()) for v in losses.values()))
        mt.backward(losses, method, shared=enc.parameters(), features=z if features or rotate else None)
        for opt in optimizers:
            opt.step()
            opt.zero_grad()
    return totals[0], totals[-1]
