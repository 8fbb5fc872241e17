"""Δm: the multi-task performance of a model relative to single-task baselines.

Three named conventions (every table that shows a Δm should name its convention):

``"vandenhende"`` — Maninis, Radosavovic, Kokkinos. Attentive Single-Tasking of Multiple Tasks. CVPR 2019;
Vandenhende, Georgoulis, Van Gansbeke, Proesmans, Dai, Van Gool. Multi-Task Learning for Dense Prediction
Tasks: A Survey. TPAMI 2021. Mean over the ``T`` tasks of the signed relative change of each task's *main*
metric; **positive = better**::

    Δm = (100 / T) Σ_t (-1)^{l_t} (M_t - B_t) / B_t,        l_t = 1 if lower is better for that metric

``"nashmtl"`` — Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya. Multi-Task Learning as a
Bargaining Game. ICML 2022 (the convention of their code and of CAGrad/FAMO tables: the NYUv2 Δm over
all 9 metrics). Mean over *all* ``K`` metrics of every task; **lower = better**::

    Δm = (100 / K) Σ_k (-1)^{h_k} (M_k - B_k) / B_k,        h_k = 1 if higher is better

``"libmtl"`` — Lin, Zhang. LibMTL: A Python Library for Multi-Task Learning. JMLR 2023
(``LibMTL.utils.count_improvement``).
Mean over tasks of the mean over that task's metrics; **positive = better**::

    Δp = (100 / T) Σ_t (1 / M_t) Σ_m (-1)^{l_{t,m}} (M_{t,m} - B_{t,m}) / B_{t,m}

Which metrics count (``select="published"``, the default). ``higher_is_better`` names the tasks and,
per task, the metrics that were measured. A task whose metric names are exactly those of one of our
metric objects is scored with *that convention's published metrics*, declared on the metric class
(:meth:`multitask.metrics.base.Metric.delta_metrics`):

============  ====================================  ====================================================
task kind     ``vandenhende`` main metric           ``nashmtl`` / ``libmtl`` metrics
============  ====================================  ====================================================
segmentation  ``miou_all`` (survey: mIoU over all    ``miou``, ``pixel_acc``
              classes; also for human parts)
depth         ``rmse``                              ``abs_err``, ``rel_err``
normals       ``mean_angle``                        all five angle metrics
edges         ``ods_f`` (tolerance-matched)          every reported metric
other kinds   the first reported metric             every reported metric
============  ====================================  ====================================================

These follow the survey's ``calculate_multi_task_performance`` (depth by RMSE, segmentation / human
parts / saliency by mIoU, normals by mean angle, edges by ODS-F; its saliency mIoU is a thresholded
foreground IoU that no metric object here computes) and the 9-metric NYUv2 set of the Nash-MTL and
LibMTL code. Any other ``higher_is_better`` (e.g. a reduced one such as
``{"depth": {"abs_err": False}}``) is taken literally: its first key is the main metric and every listed
metric counts, which is also what ``select="listed"`` does for every task. ``main={task: metric}``
overrides the main metric (``vandenhende`` only). :func:`delta_metrics` shows what counts.

Extra entries in ``results``/``baseline`` are ignored. The denominator is ``|B|`` (identical to ``B`` for
the usual positive metrics; it keeps the sign meaning "better" if a baseline is negative). A missing
task or metric, a non-finite value or a zero baseline raises a ``ValueError`` that names it
(``zero_baseline="absolute"``: a metric whose baseline is exactly 0 counts its absolute change
``(-1)^l (M - B) · 100`` instead, which the trainer uses when the reference is its own first epoch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from multitask.metrics.base import Metric

CONVENTIONS = ("vandenhende", "nashmtl", "libmtl")
SELECTIONS = ("published", "listed")

Nested = Mapping[str, Mapping[str, float]]


def relative_changes(
    results: Nested, baseline: Nested, higher_is_better: Mapping[str, Mapping[str, bool]]
) -> dict[str, dict[str, float]]:
    """``{task: {metric: (-1)^{l} (M - B) / |B| · 100}}`` for every metric in ``higher_is_better``.

    Positive means ``results`` is better than ``baseline`` on that metric.
    """
    _check_mapping("higher_is_better", higher_is_better)
    return {
        task: {metric: _change(task, metric, results, baseline, higher_is_better) for metric in metrics}
        for task, metrics in higher_is_better.items()
    }


def delta_m_per_task(
    results: Nested,
    baseline: Nested,
    higher_is_better: Mapping[str, Mapping[str, bool]],
    convention: str = "vandenhende",
    main: Mapping[str, str] | None = None,
    select: str = "published",
    zero_baseline: str = "error",
) -> dict[str, float]:
    """Each task's contribution to :func:`delta_m`, in percent, with the convention's sign.

    ``vandenhende``: the signed change of the task's main metric (positive = better); ``libmtl``: the mean
    signed change over the task's counted metrics (positive = better); ``nashmtl``: the mean over the
    task's counted metrics of ``(-1)^{h}(M - B)/B · 100`` (lower = better). For ``vandenhende``/``libmtl``
    the Δm is the mean of these values; for ``nashmtl`` it is their mean weighted by each task's number
    of counted metrics. Which metrics count: :func:`delta_metrics`.
    """
    counted = delta_metrics(higher_is_better, convention, main, select)
    out: dict[str, float] = {}
    for task, metrics in counted.items():
        changes = [_change(task, m, results, baseline, higher_is_better, zero_baseline) for m in metrics]
        mean = sum(changes) / len(changes)
        out[task] = -mean if convention == "nashmtl" else mean
    return out


def delta_metrics(
    higher_is_better: Mapping[str, Mapping[str, bool]],
    convention: str = "vandenhende",
    main: Mapping[str, str] | None = None,
    select: str = "published",
) -> dict[str, tuple[str, ...]]:
    """``{task: metrics}`` that count in ``convention`` (for ``vandenhende`` one main metric per task).

    ``select="published"``: a task whose metric names are exactly those of one of our metric objects gets
    that convention's published metrics (see the module docstring); any other task is taken literally.
    ``select="listed"``: every task is taken literally (first key = main metric; all keys count).
    ``main={task: metric}`` overrides the main metric for ``vandenhende`` (an error for the others).
    """
    _check_convention(convention)
    if select not in SELECTIONS:
        raise ValueError(f"unknown Δm metric selection {select!r}; expected one of {SELECTIONS}")
    _check_mapping("higher_is_better", higher_is_better)
    if not higher_is_better:
        raise ValueError("delta_m needs at least one task in higher_is_better")
    if main is not None and convention != "vandenhende":
        raise ValueError(f"main= chooses the main metric of the 'vandenhende' Δm; {convention!r} has none")
    if convention == "vandenhende":
        mains = _main_metrics(higher_is_better, main, select)
        return {task: (metric,) for task, metric in mains.items()}
    out: dict[str, tuple[str, ...]] = {}
    for task, metrics in higher_is_better.items():
        _check_mapping(f"higher_is_better[{task!r}]", metrics)
        if not metrics:
            raise ValueError(f"task {task!r}: higher_is_better lists no metric")
        family = _family(metrics) if select == "published" else None
        out[task] = family.delta_metrics(convention) if family is not None else tuple(metrics)
    return out


def delta_m(
    results: Nested,
    baseline: Nested,
    higher_is_better: Mapping[str, Mapping[str, bool]],
    convention: str = "vandenhende",
    main: Mapping[str, str] | None = None,
    select: str = "published",
    zero_baseline: str = "error",
) -> float:
    """Δm of ``results`` against single-task ``baseline``, in percent (see the module docstring).

    Args:
        results: ``{task: {metric: value}}`` of the model being evaluated.
        baseline: ``{task: {metric: value}}`` of the single-task baselines.
        higher_is_better: ``{task: {metric: bool}}``; decides which tasks and metrics count.
        convention: ``"vandenhende"`` (main metrics, positive = better), ``"nashmtl"`` (all counted
            metrics, lower = better) or ``"libmtl"`` (per-task mean over metrics, positive = better).
        main: ``{task: metric}`` overriding a task's main metric (``vandenhende`` only).
        select: ``"published"`` (each known task kind counts the convention's published metrics) or
            ``"listed"`` (first listed metric is the main one; every listed metric counts).
        zero_baseline: ``"error"`` (a baseline value of 0 raises) or ``"absolute"`` (that metric counts
            its absolute change ``(M - B) · 100``, signed like the relative one).
    """
    per_task = delta_m_per_task(results, baseline, higher_is_better, convention, main, select, zero_baseline)
    if convention == "nashmtl":
        counted = delta_metrics(higher_is_better, convention, None, select)
        counts = {t: len(counted[t]) for t in per_task}
        return sum(per_task[t] * counts[t] for t in per_task) / sum(counts.values())
    return sum(per_task.values()) / len(per_task)


# ---- helpers ---------------------------------------------------------------------------------------
def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown Δm convention {convention!r}; expected one of {CONVENTIONS}")


def _check_mapping(label: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{label} must be a mapping, got {type(value).__name__}")


def _family(metrics: Mapping[str, bool]) -> type[Metric] | None:
    """The metric class whose reported metric names are exactly ``metrics``' keys, if any."""
    from multitask.metrics.depth import DepthMetrics
    from multitask.metrics.edges import EdgeMetrics
    from multitask.metrics.normals import NormalsMetrics
    from multitask.metrics.segmentation import SegmentationMetrics

    names = set(metrics)
    for cls in (SegmentationMetrics, DepthMetrics, NormalsMetrics, EdgeMetrics):
        if names == set(cls._higher):
            return cls
    return None


def _main_metrics(
    higher_is_better: Mapping[str, Mapping[str, bool]], main: Mapping[str, str] | None, select: str
) -> dict[str, str]:
    main = {} if main is None else main
    _check_mapping("main", main)
    unknown = sorted(set(main) - set(higher_is_better))
    if unknown:
        raise ValueError(f"main names task(s) {unknown} that are not in higher_is_better")
    out = {}
    for task, metrics in higher_is_better.items():
        _check_mapping(f"higher_is_better[{task!r}]", metrics)
        if task in main:
            if main[task] not in metrics:
                raise ValueError(
                    f"task {task!r}: main metric {main[task]!r} is not in higher_is_better[{task!r}]"
                )
            out[task] = main[task]
        elif not metrics:
            raise ValueError(f"task {task!r}: higher_is_better lists no metric")
        else:
            family = _family(metrics) if select == "published" else None
            out[task] = family.delta_metrics("vandenhende")[0] if family is not None else next(iter(metrics))
    return out


def _value(label: str, source: Nested, task: str, metric: str) -> float:
    _check_mapping(label, source)
    if task not in source:
        raise ValueError(f"task {task!r} is missing from {label}")
    _check_mapping(f"{label}[{task!r}]", source[task])
    if metric not in source[task]:
        raise ValueError(f"task {task!r}: metric {metric!r} is missing from {label}")
    value = source[task][metric]
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(
            f"task {task!r}: {label} value of {metric!r} must be a number, got {type(value).__name__}"
        )
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"task {task!r}: {label} value of {metric!r} must be a number, got {type(value).__name__}"
        ) from exc
    if not math.isfinite(value):
        raise ValueError(f"task {task!r}: {label} value of {metric!r} is not finite ({value})")
    return value


def _change(
    task: str,
    metric: str,
    results: Nested,
    baseline: Nested,
    higher_is_better: Mapping[str, Mapping[str, bool]],
    zero_baseline: str = "error",
) -> float:
    """(-1)^{l} (M - B) / |B| · 100: positive when ``results`` is better on this metric (B = 0 with
    ``zero_baseline="absolute"``: (-1)^{l} (M - B) · 100)."""
    if zero_baseline not in ("error", "absolute"):
        raise ValueError(f"zero_baseline must be 'error' or 'absolute', got {zero_baseline!r}")
    higher = higher_is_better[task][metric]
    if not isinstance(higher, (bool, np.bool_)):
        raise TypeError(
            f"task {task!r}: higher_is_better[{metric!r}] must be a bool, got {type(higher).__name__}"
        )
    r = _value("results", results, task, metric)
    b = _value("baseline", baseline, task, metric)
    if b == 0 and zero_baseline == "absolute":
        change = (r - b) * 100.0
        return change if higher else -change
    if b == 0:
        raise ValueError(
            f"task {task!r}: baseline value of {metric!r} is 0, so its relative change is undefined"
        )
    change = (r - b) / abs(b) * 100.0
    return change if higher else -change
