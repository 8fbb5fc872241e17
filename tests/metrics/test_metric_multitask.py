"""task_metrics factory and the MultiTaskMetrics collection."""

from __future__ import annotations

import pytest
import torch

from multitask.core.tasks import Task
from multitask.metrics import (
    BinaryMetrics,
    ClassificationMetrics,
    DepthMetrics,
    EdgeMetrics,
    MultilabelMetrics,
    MultiTaskMetrics,
    NormalsMetrics,
    RegressionMetrics,
    SegmentationMetrics,
    task_metrics,
)

EXPECTED = {
    "classification": (ClassificationMetrics, 10, "accuracy"),
    "binary": (BinaryMetrics, 1, "accuracy"),
    "multilabel": (MultilabelMetrics, 4, "accuracy"),
    "regression": (RegressionMetrics, 2, "mae"),
    "segmentation": (SegmentationMetrics, 13, "miou"),
    "depth": (DepthMetrics, 1, "abs_err"),
    "normals": (NormalsMetrics, 3, "mean_angle"),
    "edges": (EdgeMetrics, 1, "ods_f"),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_task_metrics_by_kind(kind: str) -> None:
    cls, outputs, main = EXPECTED[kind]
    metric = task_metrics(Task(f"my_{kind}", kind, outputs))
    assert type(metric) is cls
    assert metric.task == f"my_{kind}"
    assert next(iter(metric.higher_is_better)) == main
    assert all(isinstance(v, bool) for v in metric.higher_is_better.values())


def test_task_metrics_passes_settings_and_validates() -> None:
    seg = task_metrics(Task("seg", "segmentation", 5, ignore_index=255))
    assert seg.num_classes == 5 and seg.ignore_index == 255
    assert task_metrics(Task("e", "edges", 1), threshold=0.3).threshold == 0.3
    with pytest.raises(ValueError, match="'normal'.*3 output"):
        task_metrics(Task("normal", "normals", 1))
    with pytest.raises(TypeError, match="Task"):
        task_metrics("depth")  # type: ignore[arg-type]


def _tasks() -> list[Task]:
    return [Task("left", "classification", 3), Task("depth", "depth", 1)]


def test_multitask_metrics_update_compute_reset() -> None:
    mtm = MultiTaskMetrics(_tasks())
    assert list(mtm) == ["left", "depth"] and len(mtm) == 2
    assert mtm.higher_is_better == {
        "left": {"accuracy": True, "f1_macro": True},
        "depth": {"abs_err": False, "rel_err": False, "rmse": False, "delta1": True},
    }
    preds = {"left": torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), "depth": torch.full((2, 1, 1, 2), 2.0)}
    targets = {"left": torch.tensor([0, 1]), "depth": torch.tensor([[[[1.0, 0.0]]], [[[2.0, 4.0]]]])}
    mtm.update(preds, targets)
    out = mtm.compute()
    assert out["left"]["accuracy"] == pytest.approx(0.5)
    assert out["depth"]["abs_err"] == pytest.approx((1 + 0 + 2) / 3)
    assert isinstance(mtm["depth"], DepthMetrics)
    mtm.reset()
    with pytest.raises(ValueError, match="'left'"):
        mtm.compute()


def test_multitask_metrics_partial_batches_and_errors() -> None:
    mtm = MultiTaskMetrics(_tasks())
    mtm.update({"left": torch.tensor([[1.0, 0.0, 0.0]])}, {"left": torch.tensor([0])})  # one task per batch
    assert mtm["left"].compute()["accuracy"] == 1.0
    with pytest.raises(ValueError, match="'depth'"):
        mtm.compute()  # depth has seen nothing
    with pytest.raises(ValueError, match="only in targets \\['depth'\\]"):
        mtm.update({"left": torch.zeros(1, 3)}, {"left": torch.tensor([0]), "depth": torch.ones(1, 1, 1, 1)})
    with pytest.raises(ValueError, match="unknown task.*'right'"):
        mtm.update({"right": torch.zeros(1, 3)}, {"right": torch.tensor([0])})
    with pytest.raises(ValueError, match="'left' is listed twice"):
        MultiTaskMetrics([Task("left", "binary", 1), Task("left", "binary", 1)])
    with pytest.raises(ValueError, match="at least one"):
        MultiTaskMetrics([])


def test_multitask_metrics_from_mapping_and_merge() -> None:
    a = MultiTaskMetrics({"x": BinaryMetrics(task="x")})
    b = MultiTaskMetrics({"x": BinaryMetrics(task="x")})
    a.update({"x": torch.tensor([1.0])}, {"x": torch.tensor([1.0])})
    b.update({"x": torch.tensor([1.0])}, {"x": torch.tensor([0.0])})
    a.merge(b)
    assert a.compute() == {"x": {"accuracy": 0.5, "f1": pytest.approx(2 / 3)}}
    with pytest.raises(TypeError, match="'x'"):
        MultiTaskMetrics({"x": object()})  # type: ignore[dict-item]


def test_task_metric_options_reach_the_metric_and_kwargs_override_them() -> None:
    from multitask.core.tasks import Task
    from multitask.metrics.factory import task_metrics

    task = Task("e", "edges", 1, metric_options={"thin_truth": True, "max_dist": 0.02})
    metric = task_metrics(task)
    assert metric.thin_truth is True and metric.max_dist == 0.02
    assert task_metrics(task, thin_truth=False).thin_truth is False
    assert task_metrics(Task("e", "edges", 1)).thin_truth is False
