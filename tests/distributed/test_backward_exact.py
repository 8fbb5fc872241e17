"""``multitask.backward(..., reduce=Reducer())`` on 2 gloo processes equals one process on the whole batch.

One spawned pair of processes runs every method in both modes (spawning is the slow part); each rank trains
``Tiny`` for 3 SGD steps in float64 on its half of every batch, rank 0 also on the whole batch alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as tmp
from tests.distributed import _workers as w


@pytest.fixture(scope="module")
def spawned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dp")
    tmp.spawn(w.exact_worker, args=(2, str(out)), nprocs=2, join=True)
    return out


@pytest.fixture(params=["parameters", "features"])
def runs(request: pytest.FixtureRequest, spawned: Path) -> tuple[str, list[dict]]:
    mode = request.param
    return mode, [torch.load(spawned / f"{mode}{r}.pt", weights_only=True) for r in range(2)]


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _names(mode: str) -> list[str]:
    extra = w.JACOBIAN_FEATURE_METHODS if mode == "features" else w.LOSS_METHODS
    return [n for n, _ in w.GRADIENT_METHODS + extra]


def test_every_method_equals_one_process_on_the_concatenated_batch(runs: tuple[str, list[dict]]) -> None:
    mode, (r0, r1) = runs
    for name in _names(mode):
        single, p0, p1 = r0[name]["single"], r0[name]["parallel"], r1[name]["parallel"]
        assert _max_diff(p0, single) < 1e-10, f"{name} ({mode}): rank 0 differs from one process"
        assert _max_diff(p0, p1) < 1e-12, f"{name} ({mode}): the ranks differ"
        assert r0[name]["bytes"] > 0, f"{name}: nothing was communicated"


def test_training_moved_the_parameters(runs: tuple[str, list[dict]]) -> None:
    """Guard: the comparison is not between two untouched models."""
    mode, (r0, _) = runs
    torch.manual_seed(0)
    start = {f"model.{k}": v for k, v in w.Tiny().double().state_dict().items()}
    for name in _names(mode):
        single = {k: v for k, v in r0[name]["single"].items() if k.startswith("model.")}
        assert _max_diff(single, start) > 1e-3, name


def test_plain_ddp_with_a_per_rank_method_differs(runs: tuple[str, list[dict]]) -> None:
    """The reason this exists: averaging per-rank balanced gradients is not the method on the global batch."""
    mode, (r0, r1) = runs
    plain = r0["plain_ddp_mgda"]
    assert _max_diff(plain["parallel"], r1["plain_ddp_mgda"]["parallel"]) < 1e-12  # still in sync
    assert _max_diff(plain["parallel"], plain["single"]) > 1e-4


def test_a_loss_scale_keeps_the_update_exact(runs: tuple[str, list[dict]]) -> None:
    """``grad_scale`` (fp16's loss scale) under data parallelism: after unscaling, the one-process update."""
    mode, (r0, r1) = runs
    names = [k for k in r0 if k.startswith("scaled_")]
    assert names
    for name in names:
        assert _max_diff(r0[name]["parallel"], r0[name]["single"]) < 1e-10, name
        assert _max_diff(r0[name]["parallel"], r1[name]["parallel"]) < 1e-12, name


def test_an_overflow_on_one_rank_is_raised_on_every_rank(runs: tuple[str, list[dict]]) -> None:
    mode, (r0, r1) = runs
    assert r0["overflow_raised"] and r1["overflow_raised"], mode
