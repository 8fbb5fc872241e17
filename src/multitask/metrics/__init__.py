"""Per-task streaming metrics, the multi-task performance measure Δm, and Pareto utilities.

Every metric object has ``update(pred, target)`` (per batch), ``compute() -> {metric: value}``,
``reset()``, ``higher_is_better -> {metric: bool}`` (in reporting order) and ``main`` (the metric the
Vandenhende survey's Δm uses; :func:`delta_metrics` gives each convention's metrics).
:func:`task_metrics` picks the metric object for a :class:`~multitask.core.tasks.Task` by its kind and
:class:`MultiTaskMetrics` holds one per task.
"""

from multitask.metrics.base import Metric
from multitask.metrics.classification import BinaryMetrics, ClassificationMetrics
from multitask.metrics.delta import CONVENTIONS, delta_m, delta_m_per_task, delta_metrics, relative_changes
from multitask.metrics.depth import DepthMetrics
from multitask.metrics.edges import EdgeMetrics
from multitask.metrics.edges_pixel import PixelEdgeMetrics
from multitask.metrics.factory import task_metrics
from multitask.metrics.multilabel import MultilabelMetrics
from multitask.metrics.multitask import MultiTaskMetrics
from multitask.metrics.normals import NormalsMetrics
from multitask.metrics.pareto import hypervolume, hypervolume_2d, non_dominated
from multitask.metrics.regression import RegressionMetrics
from multitask.metrics.segmentation import SegmentationMetrics

__all__ = [
    "CONVENTIONS",
    "BinaryMetrics",
    "ClassificationMetrics",
    "DepthMetrics",
    "EdgeMetrics",
    "Metric",
    "MultiTaskMetrics",
    "MultilabelMetrics",
    "NormalsMetrics",
    "PixelEdgeMetrics",
    "RegressionMetrics",
    "SegmentationMetrics",
    "delta_m",
    "delta_m_per_task",
    "delta_metrics",
    "hypervolume",
    "hypervolume_2d",
    "non_dominated",
    "relative_changes",
    "task_metrics",
]
