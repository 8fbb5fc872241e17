import math

import numpy as np
import pytest
import torch
from tests.methods.properties import (
    assert_direction_matches_weights,
    assert_finite_on_degenerate,
    assert_permutation_invariant,
    assert_scale_equivariant,
    train_encoder_only,
)

import multitask as mt
from multitask.methods import AlignedMTL

DTYPES = (torch.float32, torch.float64)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _procrustes_reference(jac: np.ndarray, scale: str = "min") -> np.ndarray:
    """Independent route through the SVD of J = U S Wᵀ: the aligned system is σ U Wᵀ; d = its row sum."""
    u, s, wt = np.linalg.svd(jac, full_matrices=False)
    keep = s**2 > (s**2).max() * jac.shape[0] * np.finfo(jac.dtype).eps
    u, s, wt = u[:, keep], s[keep], wt[keep]
    lam = s**2
    lower_median = np.sort(lam)[(lam.size - 1) // 2]  # torch.median, as in the official code
    sigma = {"min": np.sqrt(lam.min()), "median": np.sqrt(lower_median), "rmse": np.sqrt(lam.mean())}[scale]
    return (sigma * u @ wt).sum(axis=0)


def test_registered():
    assert isinstance(mt.create_method("aligned_mtl"), AlignedMTL)


@pytest.mark.parametrize("dtype", DTYPES)
def test_two_tasks_hand_values(dtype):
    # G = diag(1, 4): σ = 1, B = diag(1, ½), w = (1, ½), d = (1, 1); aligned rows (1,0), (0,1)
    jac = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=dtype)
    m = AlignedMTL()
    torch.testing.assert_close(m.aggregate(jac), torch.tensor([1.0, 1.0], dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([1.0, 0.5], dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_three_tasks_rank_two_hand_values(dtype):
    # g3 = g1 + g2: eigenpairs (3, (1,1,2)/√6), (1, (1,-1,0)/√2), (0, ·); σ = 1
    # w = B1 = (1,1,2)·2/(3√3), d = (2/√3)(1, 1)
    jac = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=dtype)
    m = AlignedMTL()
    c = 2 / (3 * math.sqrt(3))
    torch.testing.assert_close(m.aggregate(jac), torch.full((2,), 2 / math.sqrt(3), dtype=dtype))
    torch.testing.assert_close(m.last_weights, torch.tensor([c, c, 2 * c], dtype=dtype))


@pytest.mark.parametrize("scale", ["min", "median", "rmse"])
@pytest.mark.parametrize("seed", range(3))
def test_matches_procrustes_reference(scale, seed):
    gen = torch.Generator().manual_seed(seed)
    jac = torch.randn(2 + seed, 6, generator=gen, dtype=torch.float64)
    jac[0] *= 5.0
    got = AlignedMTL(scale=scale).aggregate(jac).numpy()
    np.testing.assert_allclose(got, _procrustes_reference(jac.numpy(), scale), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_aligned_system_has_condition_number_one(dtype):
    gen = torch.Generator().manual_seed(7)
    jac = torch.randn(4, 9, generator=gen, dtype=torch.float64) * torch.tensor([[0.1], [1.0], [3.0], [10.0]])
    jac = jac.to(dtype)
    gram = jac.double() @ jac.double().T
    b = AlignedMTL().alignment(jac @ jac.T)
    aligned_gram = b @ gram @ b.T
    sigma_sq = torch.linalg.eigvalsh(gram).min()
    rtol = 1e-4 if dtype == torch.float32 else 1e-9
    torch.testing.assert_close(
        aligned_gram, sigma_sq * torch.eye(4, dtype=torch.float64), rtol=rtol, atol=rtol * sigma_sq
    )
    sv = torch.linalg.svdvals(b.to(dtype) @ jac)
    assert float(sv.max() / sv.min()) == pytest.approx(1.0, rel=10 * rtol)


def test_mean_reduction_and_bad_options():
    jac = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(
        AlignedMTL(reduction="mean").aggregate(jac), torch.tensor([0.5, 0.5], dtype=torch.float64)
    )
    with pytest.raises(ValueError, match="scale"):
        AlignedMTL(scale="max")
    with pytest.raises(ValueError, match="reduction"):
        AlignedMTL(reduction="avg")


def test_properties():
    jac = torch.randn(4, 7, dtype=torch.float64)
    assert_permutation_invariant(AlignedMTL(), jac)
    assert_scale_equivariant(AlignedMTL(), jac)
    assert_direction_matches_weights(AlignedMTL(), jac)


def test_finite_on_degenerate_jacobians():
    assert_finite_on_degenerate(AlignedMTL())


@pytest.mark.parametrize("features", [False, True])
def test_end_to_end_three_regression_tasks(features):
    # the aligned update has the small scale √λ_min: it needs a few more steps
    first, last = train_encoder_only(AlignedMTL(), features, steps=30)
    assert last < 0.9 * first
