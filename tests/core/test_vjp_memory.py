"""The memory bound of the batched VJP: chunk sizes from budgets, and chunked passes equal to the loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from multitask.core import jacobian as jac
from multitask.core import vjp_memory as vm


@pytest.mark.parametrize(
    ("tasks", "per_row", "budget", "expected"),
    [
        (10, 100, 350, 3),  # ⌊350 / 100⌋
        (10, 100, 99, 1),  # below one row: one row still runs
        (10, 100, 0, 1),
        (10, 100, 10_000, 10),  # capped at T
        (10, 100, float("inf"), 10),
        (1, 100, 50, 1),
        (7, 0, 5, 7),  # nothing to hold: all rows
    ],
)
def test_chunk_size_for_budgets(tasks, per_row, budget, expected):
    assert vm.chunk_size_for(tasks, per_row, budget) == expected


def test_chunk_size_for_rejects_bad_input():
    with pytest.raises(ValueError, match="num_tasks"):
        vm.chunk_size_for(0, 10, 100)
    with pytest.raises(ValueError, match="budget"):
        vm.chunk_size_for(3, 10, -1.0)
    with pytest.raises(ValueError, match="budget"):
        vm.chunk_size_for(3, 10, float("nan"))


def _net(tasks: int = 5):
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 16))
    heads = nn.ModuleList([nn.Linear(16, 1) for _ in range(tasks)])
    x = torch.randn(64, 4)
    z = enc(x)
    outs = [h(z).square().mean() for h in heads]
    return enc, heads, z, outs


def test_row_and_activation_bytes():
    enc, heads, z, outs = _net()
    params = list(enc.parameters())
    assert vm.row_bytes(params) == sum(p.numel() for p in params) * 4
    assert vm.row_bytes([z]) == z.numel() * 4
    feats = vm.activation_bytes(outs, [z])
    full = vm.activation_bytes(outs, params)
    # the heads save z (shared, counted once) and their own weights and outputs
    assert z.numel() * 4 <= feats < full  # the features-mode walk stops at z; the encoder adds its inputs
    assert full - feats >= 64 * 32 * 4  # at least the encoder's hidden activation (saved by tanh / addmm)


def test_auto_chunk_size_from_an_explicit_budget_and_equal_to_the_loop():
    _, _, z, outs = _net(tasks=7)
    per_row = vm.activation_bytes(outs, [z]) + vm.row_bytes([z])
    assert vm.auto_chunk_size(outs, [z], None) is None  # CPU without a budget: all rows at once
    assert vm.auto_chunk_size(outs, [z], 2.5 * per_row) == 2
    assert vm.auto_chunk_size(outs, [z], 0.0) == 1
    ref = jac.jacobian_blocks(outs, [z], strategy="loop")
    for budget in (0.0, 2.5 * per_row, 3.0 * per_row, float("inf")):
        got = jac.jacobian_blocks(outs, [z], strategy="batched", memory_budget=budget)
        torch.testing.assert_close(got[0], ref[0])


@pytest.mark.parametrize("chunk_size", [1, 3, 4, 7, 100])
def test_preallocated_chunks_equal_the_loop(chunk_size):
    enc, _, _, outs = _net(tasks=7)
    params = list(enc.parameters())
    ref = jac.jacobian_blocks(outs, params, strategy="loop")
    got = jac.jacobian_blocks(outs, params, strategy="batched", chunk_size=chunk_size)
    for a, b in zip(got, ref):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b)
