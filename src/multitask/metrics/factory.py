"""``task_metrics(task)``: the default metric object for a task, chosen by its kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from multitask.core.tasks import Task
from multitask.metrics.base import Metric
from multitask.metrics.classification import BinaryMetrics, ClassificationMetrics
from multitask.metrics.depth import DepthMetrics
from multitask.metrics.edges import EdgeMetrics
from multitask.metrics.multilabel import MultilabelMetrics
from multitask.metrics.normals import NormalsMetrics
from multitask.metrics.regression import RegressionMetrics
from multitask.metrics.segmentation import SegmentationMetrics

#: channels a dense task's head must output
_CHANNELS = {"depth": 1, "normals": 3, "edges": 1, "binary": 1}

_BUILDERS: dict[str, Callable[..., Metric]] = {
    "classification": lambda t, **kw: ClassificationMetrics(t.num_outputs, t.ignore_index, task=t.name, **kw),
    "binary": lambda t, **kw: BinaryMetrics(task=t.name, **kw),
    "multilabel": lambda t, **kw: MultilabelMetrics(t.num_outputs, task=t.name, **kw),
    "regression": lambda t, **kw: RegressionMetrics(t.num_outputs, task=t.name, **kw),
    "segmentation": lambda t, **kw: SegmentationMetrics(t.num_outputs, t.ignore_index, task=t.name, **kw),
    "depth": lambda t, **kw: DepthMetrics(task=t.name, **kw),
    "normals": lambda t, **kw: NormalsMetrics(task=t.name, **kw),
    "edges": lambda t, **kw: EdgeMetrics(task=t.name, **kw),
}


def task_metrics(task: Task, **kwargs: Any) -> Metric:
    """The streaming metric object for ``task`` (by ``task.kind``).

    ====================  ===========================================================
    kind                  metrics (in reporting order)
    ====================  ===========================================================
    classification        accuracy, f1_macro
    binary                accuracy, f1
    multilabel            accuracy (label-wise), subset_accuracy, f1_macro
    regression            mae, rmse, explained_variance, nmse
    segmentation          miou, pixel_acc, miou_all
    depth                 abs_err, rel_err, rmse, delta1
    normals               mean_angle, median_angle, within_11.25, within_22.5, within_30
    edges                 ods_f, f1, precision, recall (thinned, matched within a tolerance)
    ====================  ===========================================================

    The main metric is the one the Vandenhende survey's Δm uses (:attr:`Metric.main`); it is the first
    reported one except for segmentation (``miou_all``) and depth (``rmse``). ``kwargs`` go to the metric
    class (e.g. ``threshold=0.3`` or ``max_dist=`` for edges, ``resolution=`` for normals), over the task's
    own ``metric_options`` (what its dataset says about scoring it). For
    pixel-exact edge scores build :class:`~multitask.metrics.PixelEdgeMetrics` yourself and pass
    ``{task name: metric}`` to :class:`~multitask.metrics.MultiTaskMetrics`.
    """
    if not isinstance(task, Task):
        raise TypeError(f"task_metrics expects a multitask.Task, got {type(task).__name__}")
    expected = _CHANNELS.get(task.kind)
    if expected is not None and task.num_outputs != expected:
        raise ValueError(
            f"task {task.name!r}: a {task.kind} task has {expected} output channel(s), "
            f"but num_outputs={task.num_outputs}"
        )
    return _BUILDERS[task.kind](task, **{**dict(task.metric_options), **kwargs})
