"""The shared Gramian numerics: one validator, one working copy (float64 unless MPS, symmetrised)."""

from __future__ import annotations

import pytest
import torch

from multitask.core.gramian import check_gramian, normalized_work_gramian, work_dtype, work_gramian


def test_check_gramian_accepts_and_returns_a_valid_gramian() -> None:
    g = torch.eye(3)
    assert check_gramian(g) is g
    batch = torch.eye(3).expand(4, 3, 3)
    assert check_gramian(batch, batched=True) is batch


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ([[1.0]], TypeError, "torch.Tensor"),
        (torch.eye(2, dtype=torch.long), TypeError, "floating point"),
        (torch.ones(2, 3), ValueError, r"shape \[T, T\]"),
        (torch.ones(3), ValueError, r"shape \[T, T\]"),
        (torch.ones(0, 0), ValueError, r"shape \[T, T\]"),
        (torch.eye(2).expand(2, 2, 2), ValueError, r"shape \[T, T\]"),
        (torch.tensor([[1.0, float("inf")], [0.0, 1.0]]), ValueError, "non-finite"),
    ],
)
def test_check_gramian_rejects(value, error, match) -> None:
    with pytest.raises(error, match=match):
        check_gramian(value)


def test_check_gramian_names_the_caller_and_takes_batches() -> None:
    with pytest.raises(ValueError, match=r"^my_solver: the Gramian must have shape \[\.\.\., T, T\]"):
        check_gramian(torch.ones(2, 2, 3), "my_solver", batched=True)


def test_work_gramian_is_a_detached_symmetric_float64_copy() -> None:
    j = torch.randn(3, 5, requires_grad=True)
    g = j @ j.T
    g = g + torch.tensor([[0.0, 1e-3, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # rounding-like asymmetry
    w = work_gramian(g)
    assert w.dtype == torch.float64 and not w.requires_grad
    torch.testing.assert_close(w, w.T, rtol=0, atol=0)
    torch.testing.assert_close(w, 0.5 * (g + g.T).detach().double())
    assert work_dtype(torch.device("cpu")) == torch.float64
    assert work_dtype(torch.device("mps")) == torch.float32
    batch = torch.randn(2, 3, 3)
    torch.testing.assert_close(work_gramian(batch), 0.5 * (batch + batch.transpose(1, 2)).double())


def test_normalized_work_gramian() -> None:
    g = torch.tensor([[4.0, 1.0], [1.0, 2.0]])
    w, s = normalized_work_gramian(g)
    assert s == 4.0
    torch.testing.assert_close(w, g.double() / 4.0)
    zero, s0 = normalized_work_gramian(torch.zeros(2, 2))
    assert s0 == 0.0 and bool((zero == 0).all())
