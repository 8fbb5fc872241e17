"""Partial labels: the task metrics count only labelled samples."""

from __future__ import annotations

import pytest
import torch

from multitask.core.tasks import Task
from multitask.metrics import MultiTaskMetrics

TASKS = [
    Task("cls", "classification", 3),
    Task("bin", "binary", 1),
    Task("ml", "multilabel", 2),
    Task("reg", "regression", 2),
]


def _batch(n: int, seed: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    preds = {
        "cls": torch.randn(n, 3, generator=g),
        "bin": torch.randn(n, 1, generator=g),
        "ml": torch.randn(n, 2, generator=g),
        "reg": torch.randn(n, 2, generator=g),
    }
    targets = {
        "cls": torch.randint(0, 3, (n,), generator=g),
        "bin": torch.randint(0, 2, (n,), generator=g).float(),
        "ml": torch.randint(0, 2, (n, 2), generator=g).float(),
        "reg": torch.randn(n, 2, generator=g),
    }
    return preds, targets


def _unlabel(targets: dict[str, torch.Tensor], rows: list[int]) -> dict[str, torch.Tensor]:
    out = {k: v.clone() for k, v in targets.items()}
    out["cls"][rows] = -1
    out["bin"][rows] = float("nan")
    out["ml"][rows, 1] = -1  # one missing entry makes the sample unlabelled for the multilabel metric
    out["reg"][rows, 0] = float("nan")
    return out


def test_metrics_equal_those_of_the_labelled_subset() -> None:
    preds, targets = _batch(12, 0)
    rows = [0, 3, 4, 9]
    keep = torch.ones(12, dtype=torch.bool)
    keep[rows] = False
    partial, subset = MultiTaskMetrics(TASKS), MultiTaskMetrics(TASKS)
    partial.update(preds, _unlabel(targets, rows))
    subset.update({k: v[keep] for k, v in preds.items()}, {k: v[keep] for k, v in targets.items()})
    assert partial.compute() == subset.compute()
    full = MultiTaskMetrics(TASKS)
    full.update(preds, targets)
    assert full.compute()["reg"] != partial.compute()["reg"]  # the unlabelled samples did change it


def test_a_batch_without_labels_adds_nothing() -> None:
    preds, targets = _batch(8, 1)
    other_preds, other_targets = _batch(6, 2)
    with_empty, alone = MultiTaskMetrics(TASKS), MultiTaskMetrics(TASKS)
    with_empty.update(preds, targets)
    with_empty.update(other_preds, _unlabel(other_targets, list(range(6))))
    alone.update(preds, targets)
    assert with_empty.compute() == alone.compute()


def test_only_unlabelled_data_is_still_a_clear_error() -> None:
    preds, targets = _batch(4, 3)
    m = MultiTaskMetrics(TASKS)
    m.update(preds, _unlabel(targets, [0, 1, 2, 3]))
    with pytest.raises(ValueError, match="'cls'.*before any valid sample"):
        m.compute()
