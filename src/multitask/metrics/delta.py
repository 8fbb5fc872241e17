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

``higher_is_better`` decides what counts: its tasks, and (for ``nashmtl``/``libmtl``) its metrics; extra
entries in ``results``/``baseline`` are ignored, so pass a reduced ``higher_is_better`` to reproduce a
paper's metric set. The main metric of a task is the first key of ``higher_is_better[task]`` unless
``main={task: metric}`` says otherwise. The denominator is ``|B|`` (identical to ``B`` for the usual
positive metrics; it keeps the sign meaning "better" if a baseline is negative). A missing task or metric,
a non-finite value or a zero baseline raises a ``ValueError`` that names it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

CONVENTIONS = ("vandenhende", "nashmtl", "libmtl")

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
) -> dict[str, float]:
    """Each task's contribution to :func:`delta_m`, in percent, with the convention's sign.

    ``vandenhende``: the signed change of the task's main metric (positive = better); ``libmtl``: the mean
    signed change over the task's metrics (positive = better); ``nashmtl``: the mean over the task's
    metrics of ``(-1)^{h}(M - B)/B · 100`` (lower = better). For ``vandenhende``/``libmtl`` the Δm is the
    mean of these values; for ``nashmtl`` it is their mean weighted by each task's number of metrics.
    ``main`` is used by ``vandenhende`` only.
    """
    _check_convention(convention)
    _check_mapping("higher_is_better", higher_is_better)
    if not higher_is_better:
        raise ValueError("delta_m needs at least one task in higher_is_better")
    if convention == "vandenhende":
        mains = _main_metrics(higher_is_better, main)
        return {t: _change(t, m, results, baseline, higher_is_better) for t, m in mains.items()}
    out: dict[str, float] = {}
    for task, metrics in higher_is_better.items():
        _check_mapping(f"higher_is_better[{task!r}]", metrics)
        if not metrics:
            raise ValueError(f"task {task!r}: higher_is_better lists no metric")
        changes = [_change(task, m, results, baseline, higher_is_better) for m in metrics]
        mean = sum(changes) / len(changes)
        out[task] = -mean if convention == "nashmtl" else mean
    return out


def delta_m(
    results: Nested,
    baseline: Nested,
    higher_is_better: Mapping[str, Mapping[str, bool]],
    convention: str = "vandenhende",
    main: Mapping[str, str] | None = None,
) -> float:
    """Δm of ``results`` against single-task ``baseline``, in percent (see the module docstring).

    Args:
        results: ``{task: {metric: value}}`` of the model being evaluated.
        baseline: ``{task: {metric: value}}`` of the single-task baselines.
        higher_is_better: ``{task: {metric: bool}}``; decides which tasks and metrics count.
        convention: ``"vandenhende"`` (main metrics, positive = better), ``"nashmtl"`` (all metrics,
            lower = better) or ``"libmtl"`` (per-task mean over metrics, positive = better).
        main: ``{task: metric}`` overriding a task's main metric (``vandenhende`` only).
    """
    per_task = delta_m_per_task(results, baseline, higher_is_better, convention, main)
    if convention == "nashmtl":
        counts = {t: len(higher_is_better[t]) for t in per_task}
        return sum(per_task[t] * counts[t] for t in per_task) / sum(counts.values())
    return sum(per_task.values()) / len(per_task)


# ---- helpers ---------------------------------------------------------------------------------------
def _check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown Δm convention {convention!r}; expected one of {CONVENTIONS}")


def _check_mapping(label: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{label} must be a mapping, got {type(value).__name__}")


def _main_metrics(
    higher_is_better: Mapping[str, Mapping[str, bool]], main: Mapping[str, str] | None
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
        elif metrics:
            out[task] = next(iter(metrics))
        else:
            raise ValueError(f"task {task!r}: higher_is_better lists no metric")
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
) -> float:
    """(-1)^{l} (M - B) / |B| · 100: positive when ``results`` is better on this metric."""
    higher = higher_is_better[task][metric]
    if not isinstance(higher, (bool, np.bool_)):
        raise TypeError(
            f"task {task!r}: higher_is_better[{metric!r}] must be a bool, got {type(higher).__name__}"
        )
    r = _value("results", results, task, metric)
    b = _value("baseline", baseline, task, metric)
    if b == 0:
        raise ValueError(
            f"task {task!r}: baseline value of {metric!r} is 0, so its relative change is undefined"
        )
    change = (r - b) / abs(b) * 100.0
    return change if higher else -change
