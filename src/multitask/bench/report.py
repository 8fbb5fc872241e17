"""Grid results as tables: per (architecture, method), mean ± std over seeds of every test metric,
Δm against the single-task baseline in both named conventions, step time, parameter count and
multiply-accumulates per sample; for grids with architecture searches also the wall time of each phase
(``search s``: the search, ``train s``: the run itself, for a search the training of its found network).

* ``Δm_V`` (Maninis/Vandenhende): mean over tasks of the signed relative change of the task's main
  metric, in percent; **higher is better**.
* ``Δm_N`` (Nash-MTL / LibMTL): mean over all metrics of the relative change, signed so that
  **lower is better**.

Both are computed per seed against the same seed's single-task test results, then averaged (mean ±
sample std over the seeds that finished; the ``seeds`` column says how many).

Two methods whose test and validation metrics are identical on every seed are flagged in the notes:
they are almost surely the same run under two names (e.g. a method whose schedule never left a
warm-up that equals another method).

A cell is marked † where the method differs from EW of the same architecture over the seeds (paired
t-test, :mod:`multitask.bench.significance`); the CSV has each p-value (``<column> p vs ew``).

With more than ``MANY_TASKS`` tasks the Markdown table shows, per metric, the mean over the tasks (each
seed's mean, then mean ± std over seeds) instead of a column per task; ``results.csv`` keeps both.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from multitask.bench import significance
from multitask.bench.runner import BASELINE
from multitask.metrics import delta_m
from multitask.train.config import atomic_write_text
from multitask.train.logging import write_csv

#: above this many tasks the Markdown table shows each metric's mean over the tasks (results.csv: every task)
MANY_TASKS = 8


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (architecture, method): means, stds and Δm over the seeds that finished."""
    baselines = {
        r["seed"]: r for r in records if r.get("status") == "ok" and (r["model"], r["method"]) == BASELINE
    }
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["model"], r["method"]), []).append(r)
    rows = []
    for (model, method), runs in groups.items():
        ok = [r for r in runs if r.get("status") == "ok"]
        row: dict[str, Any] = {"model": model, "method": method, "seeds": len(ok)}
        if not ok:
            row["error"] = runs[0].get("error", "failed")
            rows.append(row)
            continue
        for r in runs:
            if r.get("status") != "ok":
                row.setdefault("notes", []).append(f"seed {r['seed']} failed: {str(r.get('error'))[:120]}")
        hib = ok[0]["higher_is_better"]
        per_seed: dict[str, dict[int, float]] = {}  # column -> seed -> value (for the significance test)
        for task, metrics in hib.items():
            for metric in metrics:
                per_seed[f"{task}/{metric}"] = {r["seed"]: r["test"][task][metric] for r in ok}
                row[f"{task}/{metric}"] = _mean_std(list(per_seed[f"{task}/{metric}"].values()))
        if len(hib) > MANY_TASKS:
            row["_mean_cols"] = _task_means(ok, hib, row, per_seed)
        for key, convention in (("delta_m_V", "vandenhende"), ("delta_m_N", "nashmtl")):
            values: dict[int, float] = {}
            problems = []
            for r in ok:
                base = baselines.get(r["seed"])
                if base is None:
                    continue
                try:
                    values[r["seed"]] = delta_m(r["test"], base["test"], hib, convention=convention)
                except ValueError as err:  # e.g. a baseline metric of 0: the relative change is undefined
                    problems.append(str(err))
            row[key] = _mean_std(list(values.values())) if values and not problems else None
            if row[key] is not None:
                per_seed[key] = values
            if problems:
                row.setdefault("notes", []).append(f"{key} undefined: {problems[0]}")
        times = [r["step_time_ms"] for r in ok if r.get("step_time_ms") is not None]
        row["step_ms"] = _mean_std(times) if times else None
        # per sample, of the final network (older results: no MACs); a search finds one network per seed
        for key in ("params", "macs"):
            found = [r[key] for r in ok if r.get(key) is not None]
            row[key] = round(float(np.mean(found))) if found else None
            if len(set(found)) > 1:
                note = f"{key} differ between seeds ({sorted(set(found))}): the mean is shown"
                row.setdefault("notes", []).append(note)
        walls = [r["wall_time_s"] for r in ok if r.get("wall_time_s") is not None]
        row["train_s"] = _mean_std(walls) if walls else None
        searches = [r["search_wall_time_s"] for r in ok if r.get("search_wall_time_s") is not None]
        row["search_s"] = _mean_std(searches) if searches else None  # an architecture search's phase 1
        row["_hib"] = hib
        row["_per_seed"] = per_seed
        row["_fingerprint"] = json.dumps(
            sorted(((r["seed"], r["test"], r.get("val")) for r in ok), key=lambda t: t[0]),
            sort_keys=True,
            default=str,
        )
        rows.append(row)
    _flag_identical(rows)
    _test_against_ew(rows)
    return rows


def _task_means(
    ok: list[dict[str, Any]], hib: dict[str, dict[str, bool]], row: dict[str, Any], per_seed: dict[str, Any]
) -> list[tuple[str, bool]]:
    """Columns ``mean of N tasks/METRIC``: each seed's mean over the tasks reporting METRIC, then mean ±
    std over the seeds (added to ``row`` and ``per_seed``); returns (column, higher_is_better)."""
    by_metric: dict[str, list[str]] = {}
    for task, metrics in hib.items():
        for metric in metrics:
            by_metric.setdefault(metric, []).append(task)
    cols = []
    for metric, tasks in by_metric.items():
        col = f"mean of {len(tasks)} tasks/{metric}"
        per_seed[col] = {r["seed"]: float(np.mean([r["test"][t][metric] for t in tasks])) for r in ok}
        row[col] = _mean_std(list(per_seed[col].values()))
        cols.append((col, hib[tasks[0]][metric]))
    return cols


def _test_against_ew(rows: list[dict[str, Any]]) -> None:
    """``row["_p"][column]``: paired t-test p-value against EW of the same architecture (or None)."""
    ew = {row["model"]: row for row in rows if row["method"] == "ew" and "_per_seed" in row}
    for row in rows:
        ref = ew.get(row["model"])
        if ref is None or ref is row or row["model"] == BASELINE[0] or "_per_seed" not in row:
            continue
        row["_p"] = {
            col: significance.paired_p(values, ref["_per_seed"][col])
            for col, values in row["_per_seed"].items()
            if col in ref["_per_seed"]
        }


def _flag_identical(rows: list[dict[str, Any]]) -> None:
    """Note on each row whose metrics equal another method's on every seed (same architecture)."""
    by_print: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if "_fingerprint" in row:
            by_print.setdefault((row["model"], row["_fingerprint"]), []).append(row)
    for same in by_print.values():
        for row in same if len(same) > 1 else []:
            others = ", ".join(r["method"] for r in same if r is not row)
            row.setdefault("notes", []).append(
                f"identical test and validation metrics to {others} on every seed ({row['seeds']}): "
                "the same run under two names?"
            )


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``None`` for a single value)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else None


def _columns(rows: list[dict[str, Any]]) -> list[tuple[str, bool | None]]:
    """(column, higher_is_better) for the value columns, in order."""
    cols: list[tuple[str, bool | None]] = []
    if any("_mean_cols" in row for row in rows):  # many tasks: per-metric means over the tasks (CSV: all)
        for row in rows:
            cols += [c for c in row.get("_mean_cols", []) if c not in cols]
        return cols + [("delta_m_V", True), ("delta_m_N", False), ("step_ms", False), ("params", False)]
    for row in rows:
        for task, metrics in row.get("_hib", {}).items():
            for metric, higher in metrics.items():
                key = (f"{task}/{metric}", higher)
                if key not in cols:
                    cols.append(key)
    cols += [("delta_m_V", True), ("delta_m_N", False), ("step_ms", False), ("params", False)]
    if any(row.get("macs") is not None for row in rows):
        cols.append(("macs", False))
    if any(row.get("search_s") is not None for row in rows):  # two-phase runs: the cost of each phase
        cols += [("search_s", False), ("train_s", False)]
    return cols


def _best(rows: list[dict[str, Any]], col: str, higher: bool | None) -> float | None:
    values = []
    for row in rows:
        v = row.get(col)
        if v is None or (row["model"], row["method"]) == BASELINE and col.startswith("delta"):
            continue
        values.append(v[0] if isinstance(v, tuple) else v)
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values or higher is None:
        return None
    return max(values) if higher else min(values)


def markdown_table(rows: list[dict[str, Any]], title: str = "") -> str:
    """A Markdown table; the best value per column is **bold** (↑ higher / ↓ lower is better)."""
    cols = _columns(rows)
    names = {
        "delta_m_V": "Δm_V % (↑)",
        "delta_m_N": "Δm_N % (↓)",
        "step_ms": "step ms (↓)",
        "params": "params",
        "macs": "MACs",
        "search_s": "search s",
        "train_s": "train s",
    }
    header = ["arch", "method", "seeds"] + [names.get(c, f"{c} ({'↑' if h else '↓'})") for c, h in cols]
    lines = [f"### {title}", ""] if title else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    best = {c: _best(rows, c, h) for c, h in cols}
    for row in rows:
        cells = [row["model"], row["method"], str(row["seeds"])]
        if "error" in row:
            cells += [f"failed: {row['error'][:80]}"] + [""] * (len(cols) - 1)
        else:
            for c, _ in cols:
                mark = significance.MARK if significant(row, c) else ""
                cells.append(_fmt(row.get(c), c, best[c]) + mark)
        lines.append("| " + " | ".join(cells) + " |")
    notes = sorted({f"{row['model']}/{row['method']}: {n}" for row in rows for n in row.get("notes", [])})
    if any(row.get("_p") for row in rows):
        marked = any(significant(row, c) for row in rows for c, _ in cols)
        notes.insert(0, significance.DESCRIPTION if marked else significance.NONE_MARKED)
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def significant(row: dict[str, Any], col: str) -> bool:
    """Whether ``row``'s ``col`` differs from EW's (paired t-test p < ``significance.ALPHA``)."""
    p = row.get("_p", {}).get(col)
    return p is not None and p < significance.ALPHA


def _fmt(value: Any, col: str, best: float | None) -> str:
    if value is None:
        return "—"
    if col in ("params", "macs"):
        text = f"{int(value):,}"
        mean = float(value)
    else:
        mean, std = value
        digits = 2 if col.startswith("delta") or col == "step_ms" else 1 if col.endswith("_s") else 4
        text = f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")
    return f"**{text}**" if best is not None and math.isclose(mean, best, rel_tol=0, abs_tol=1e-12) else text


def write_report(records: list[dict[str, Any]], out_dir: str | Path, title: str = "") -> str:
    """Write ``results.csv`` and ``results.md`` into ``out_dir``; return the Markdown."""
    out = Path(out_dir)
    rows = summarize(records)
    flat = []
    for row in rows:
        rec: dict[str, Any] = {}
        p_values = {f"{col} p vs ew": p for col, p in row.get("_p", {}).items()}
        for key, value in [*row.items(), *p_values.items()]:
            if key.startswith("_"):
                continue
            if key == "notes":
                rec[key] = "; ".join(value)
                continue
            if isinstance(value, tuple):
                rec[f"{key} mean"], rec[f"{key} std"] = value
            else:
                rec[key] = value
        flat.append(rec)
    write_csv(out / "results.csv", flat)
    md = markdown_table(rows, title)
    atomic_write_text(out / "results.md", md)
    return md
