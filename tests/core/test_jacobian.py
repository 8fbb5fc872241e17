"""The per-task Jacobian engine against hand-derived gradients and against itself (loop vs batched)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from multitask.core import jacobian as jac


def _quadratic_problem(seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """``Lₜ = ½‖Aₜ w‖² + bₜᵀv`` for t = 0, 1, 2 (task 2 does not use ``v``).

    By hand: ``∂Lₜ/∂w = AₜᵀAₜ w``, ``∂Lₜ/∂v = bₜ`` (0 for task 2). Returns the losses, the inputs
    ``[w, v]`` (``w`` of shape [2, 2]) and the expected Jacobian ``[3, 4 + 3]``.
    """
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    a = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)
    b = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    flat = w.reshape(4)
    losses = [0.5 * (a[t] @ flat).square().sum() + (b[t] @ v if t < 2 else 0.0) for t in range(3)]
    rows = []
    for t in range(3):
        gw = a[t].T @ (a[t] @ flat.detach())
        gv = b[t] if t < 2 else torch.zeros(3, dtype=torch.float64)
        rows.append(torch.cat([gw, gv]))
    return losses, [w, v], torch.stack(rows)


@pytest.mark.parametrize("strategy", ["loop", "batched", "auto"])
def test_blocks_match_the_hand_derived_gradients(strategy: str) -> None:
    losses, inputs, expected = _quadratic_problem()
    blocks = jac.jacobian_blocks(losses, inputs, strategy=strategy)
    assert [tuple(b.shape) for b in blocks] == [(3, 2, 2), (3, 3)]
    torch.testing.assert_close(jac.concat_blocks(blocks), expected)
    assert bool((blocks[1][2] == 0).all())  # an input a task does not use gets a zero row, not None
    torch.testing.assert_close(jac.jacobian(losses, inputs, strategy=strategy), expected)
    torch.testing.assert_close(jac.gramian(losses, inputs, strategy=strategy), expected @ expected.T)


def test_a_loss_vector_works_like_a_sequence() -> None:
    losses, inputs, expected = _quadratic_problem(1)
    torch.testing.assert_close(jac.jacobian(torch.stack(losses), inputs, strategy="loop"), expected)


def test_block_algebra() -> None:
    _, inputs, expected = _quadratic_problem(2)
    blocks = [expected[:, :4].reshape(3, 2, 2), expected[:, 4:]]
    torch.testing.assert_close(jac.gramian_from_blocks(blocks), expected @ expected.T)
    w = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    combined = jac.combine_blocks(w, blocks)
    assert [tuple(c.shape) for c in combined] == [(2, 2), (3,)]
    torch.testing.assert_close(torch.cat([c.reshape(-1) for c in combined]), w @ expected)
    flat = w @ expected
    parts = jac.split_direction(flat, inputs)
    torch.testing.assert_close(torch.cat([p.reshape(-1) for p in parts]), flat)
    assert [p.shape for p in parts] == [x.shape for x in inputs]


@pytest.mark.parametrize("chunk_size", [1, 2, None])
def test_batched_chunks_equal_loop(chunk_size: int | None) -> None:
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5)).double()
    x = torch.randn(8, 4, dtype=torch.float64)
    z = enc(x)
    vec = torch.stack([(z[:, i] ** 2).mean() for i in range(3)])
    shared = list(enc.parameters())
    ref = jac.jacobian(vec, shared, strategy="loop")
    got = jac.jacobian(vec, shared, strategy="batched", chunk_size=chunk_size)
    torch.testing.assert_close(got, ref)
    assert ref.shape == (3, sum(p.numel() for p in shared))
    with pytest.raises(ValueError, match="chunk_size"):
        jac.jacobian(vec, shared, strategy="batched", chunk_size=0)
    with pytest.raises(ValueError, match="unknown Jacobian strategy"):
        jac.jacobian(vec, shared, strategy="fast")


def test_auto_falls_back_to_the_loop_without_batching_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    losses, inputs, expected = _quadratic_problem(3)

    def no_rule(*args, **kwargs):
        raise RuntimeError("Batching rule not implemented for aten::some_op")

    monkeypatch.setattr(jac, "_batched", no_rule)
    monkeypatch.setattr(jac, "_batching_failed", set())
    monkeypatch.setattr(jac, "resolve_strategy", lambda strategy, device: "batched")
    with pytest.warns(UserWarning, match="falling back to the per-task loop"):
        got = jac.jacobian(losses, inputs, strategy="auto")
    torch.testing.assert_close(got, expected)
    with pytest.raises(RuntimeError, match="Batching rule"):
        jac.jacobian(losses, inputs, strategy="batched")


def test_resolve_strategy() -> None:
    assert jac.resolve_strategy("auto", torch.device("cpu")) == "loop"
    assert jac.resolve_strategy("batched", torch.device("cpu")) == "batched"
    with pytest.raises(ValueError, match="unknown Jacobian strategy"):
        jac.resolve_strategy("vmap", torch.device("cpu"))


def test_bad_losses_are_rejected() -> None:
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="1-D vector"):
        jac.jacobian_blocks(torch.stack([w, w]), [w])
    with pytest.raises(ValueError, match="non-empty sequence of scalar"):
        jac.jacobian_blocks([], [w])
    with pytest.raises(ValueError, match="non-empty sequence of scalar"):
        jac.jacobian_blocks([w * 2], [w])


def test_check_jacobian() -> None:
    good = torch.ones(2, 3)
    assert jac.check_jacobian(good) is good
    with pytest.raises(TypeError, match="torch.Tensor"):
        jac.check_jacobian([[1.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"shape \[T, n\]"):
        jac.check_jacobian(torch.ones(3))
    with pytest.raises(ValueError, match="at least one task and one column"):
        jac.check_jacobian(torch.ones(0, 3))
    with pytest.raises(TypeError, match="floating point"):
        jac.check_jacobian(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"non-finite entries in task rows \[1\]"):
        jac.check_jacobian(torch.tensor([[1.0, 2.0], [float("nan"), 0.0]]))
