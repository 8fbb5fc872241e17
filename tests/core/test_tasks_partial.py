"""Partial labels in the default task losses: a masked loss equals the loss over the labelled subset."""

from __future__ import annotations

import pytest
import torch

from multitask.core.tasks import Task, label_count, labelled, task_loss


def _pred_target(kind: str, n: int = 6) -> tuple[torch.Tensor, torch.Tensor, Task]:
    g = torch.Generator().manual_seed(0)
    outputs = {"classification": 4, "binary": 1, "multilabel": 3, "regression": 2}.get(kind, 3)
    if kind in ("depth", "edges"):
        outputs = 1
    task = Task("t", kind, outputs)
    if task.dense:
        pred = torch.randn(n, outputs, 4, 4, generator=g)
        if kind == "segmentation":
            return pred, torch.randint(0, 3, (n, 4, 4), generator=g), task
        if kind == "depth":
            return pred, torch.rand(n, 1, 4, 4, generator=g) + 0.1, task
        if kind == "normals":
            return pred, torch.randn(n, 3, 4, 4, generator=g), task
        return pred, torch.randint(0, 2, (n, 1, 4, 4), generator=g).float(), task
    pred = torch.randn(n, outputs, generator=g)
    if kind == "classification":
        return pred, torch.randint(0, 4, (n,), generator=g), task
    if kind == "binary":
        return pred, torch.randint(0, 2, (n,), generator=g).float(), task
    if kind == "multilabel":
        return pred, torch.randint(0, 2, (n, 3), generator=g).float(), task
    return pred, torch.randn(n, 2, generator=g), task


KINDS = ["classification", "binary", "multilabel", "regression", "segmentation", "depth", "normals", "edges"]


def _missing(task: Task, target: torch.Tensor) -> torch.Tensor:
    """The target with samples 1 and 4 replaced by the kind's missing value."""
    out = target.clone()
    if task.kind in ("classification", "segmentation"):
        out[[1, 4]] = task.ignore_index
    elif task.kind in ("depth", "normals"):
        out[[1, 4]] = 0.0
    else:
        out[[1, 4]] = float("nan")
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_masked_loss_equals_the_loss_over_the_labelled_subset(kind: str) -> None:
    pred, target, task = _pred_target(kind)
    keep = torch.tensor([True, False, True, True, False, True])
    reference = task_loss(task, pred[keep], target[keep])  # the old loss on the labelled samples only
    by_mask = task_loss(task, pred, target, mask=keep)
    by_value = task_loss(task, pred, _missing(task, target))
    torch.testing.assert_close(by_mask, reference)
    torch.testing.assert_close(by_value, reference)
    assert int(label_count(task, target, keep)) == int(label_count(task, target[keep]))


@pytest.mark.parametrize("kind", KINDS)
def test_a_batch_without_labels_gives_zero_loss_and_zero_gradient(kind: str) -> None:
    pred, target, task = _pred_target(kind)
    pred.requires_grad_(True)
    loss = task_loss(task, pred, target, mask=torch.zeros(6, dtype=torch.bool))
    assert torch.isfinite(loss) and float(loss.detach()) == 0.0
    loss.backward()
    assert pred.grad is not None and torch.equal(pred.grad, torch.zeros_like(pred))
    assert int(label_count(task, target, torch.zeros(6, dtype=torch.bool))) == 0


def test_unlabelled_entries_get_no_gradient_and_nan_never_leaks() -> None:
    task = Task("r", "regression", 2)
    pred = torch.randn(4, 2, requires_grad=True)
    target = torch.randn(4, 2)
    target[0, 1] = float("nan")  # one missing entry of a 2-D regression target
    loss = task_loss(task, pred, target)
    loss.backward()
    assert torch.isfinite(loss) and pred.grad[0, 1] == 0 and torch.isfinite(pred.grad).all()
    expected = ((pred.detach() - target) ** 2)[labelled(task, target)].mean()
    torch.testing.assert_close(loss.detach(), expected)


def test_multilabel_per_entry_mask_and_bad_mask_shape() -> None:
    task = Task("m", "multilabel", 3)
    pred, target = torch.randn(4, 3), torch.randint(0, 2, (4, 3)).float()
    mask = torch.rand(4, 3) > 0.4
    mask[0, 0] = True
    values = torch.nn.functional.binary_cross_entropy_with_logits(pred, target, reduction="none")
    torch.testing.assert_close(task_loss(task, pred, target, mask=mask), values[mask].mean())
    with pytest.raises(ValueError, match="'m'.*mask"):
        task_loss(task, pred, target, mask=torch.ones(5, dtype=torch.bool))
