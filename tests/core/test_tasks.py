import pytest
import torch

from multitask.core.tasks import Task


def test_unknown_kind_names_task():
    with pytest.raises(ValueError, match="'seg'.*unknown kind"):
        Task("seg", "segmantation", 3)


def test_segmentation_loss_ignores_minus_one():
    task = Task("seg", "segmentation", 3)
    pred = torch.randn(2, 3, 4, 4)
    target = torch.full((2, 4, 4), -1, dtype=torch.long)
    target[0, 0, 0] = 1
    expected = torch.nn.functional.cross_entropy(pred[0, :, 0, 0][None], torch.tensor([1]))
    assert torch.allclose(task.loss(pred, target), expected)


def test_depth_loss_all_invalid_is_zero_not_nan():
    task = Task("depth", "depth", 1)
    loss = task.loss(torch.randn(2, 1, 4, 4), torch.zeros(2, 1, 4, 4))
    assert loss.item() == 0.0


def test_normals_loss_zero_for_perfect_prediction():
    task = Task("normals", "normals", 3)
    n = torch.nn.functional.normalize(torch.randn(2, 3, 4, 4), dim=1)
    assert task.loss(n * 3.0, n).abs().item() < 1e-6


def test_metric_options_are_stored_as_sorted_pairs_and_checked() -> None:
    from multitask.core.tasks import Task

    t = Task("e", "edges", 1, metric_options={"thin_truth": True, "max_dist": 1.5})
    assert t.metric_options == (("max_dist", 1.5), ("thin_truth", True))
    assert hash(t) == hash(Task("e", "edges", 1, metric_options={"max_dist": 1.5, "thin_truth": True}))
    assert Task("e", "edges", 1).metric_options == ()
    with pytest.raises(ValueError, match="task 'e': metric_options must map names to values"):
        Task("e", "edges", 1, metric_options=[("thin_truth",)])
