"""Grid-level figures drawn from the report's rows (:func:`multitask.bench.report.summarize`).

* ``delta_m.png``: every (architecture, method) ranked by Δm_V (higher is better) and by Δm_N (lower is
  better), mean ± std over seeds, best on top; EW rows in orange, a † after a name whose Δm differs from
  EW's (paired t-test, :mod:`multitask.bench.significance`), 0 (the single-task baseline) as a line;
* ``step_time.png``: mean ± std training-step time per (architecture, method), fastest on top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from multitask.bench import _plotting as P
from multitask.bench import significance
from multitask.bench.runner import BASELINE


def _label(row: dict[str, Any], col: str | None = None) -> str:
    name = f"{row['model']} · {row['method']}"
    name = P.BASELINE_LABEL if (row["model"], row["method"]) == BASELINE else name
    p = row.get("_p", {}).get(col) if col else None
    return name + (f" {significance.MARK}" if p is not None and p < significance.ALPHA else "")


def _ranked_bars(ax: Any, rows: list[dict[str, Any]], col: str, higher: bool, title: str) -> None:
    rows = sorted(rows, key=lambda r: r[col][0], reverse=higher)  # best first
    means = np.array([r[col][0] for r in rows])
    stds = np.array([r[col][1] or 0.0 for r in rows])
    colors = ["tab:orange" if r["method"] == "ew" else "tab:blue" for r in rows]
    several = any(r[col][1] is not None for r in rows)
    ax.barh(range(len(rows)), means, xerr=stds if several else None, color=colors, alpha=0.85, capsize=2)
    ax.set_yticks(range(len(rows)), [_label(r, col) for r in rows], fontsize=7)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.axvline(0, color="k", ls="--", lw=1)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=9)


def delta_m_plot(rows: list[dict[str, Any]], context: str, path: Path) -> Path | None:
    """Δm_V and Δm_N rankings with error bars (None when no row has a Δm)."""
    shown = [r for r in rows if (r["model"], r["method"]) != BASELINE]
    panels = [(c, h, t) for c, h, t in (
        ("delta_m_V", True, "Δm_V % (Maninis/Vandenhende, ↑ better)"),
        ("delta_m_N", False, "Δm_N % (Nash-MTL, ↓ better)"),
    ) if any(r.get(c) is not None for r in shown)]  # fmt: skip
    if not panels:
        return None
    plt = P.plt()
    n = max(len([r for r in shown if r.get(c) is not None]) for c, _, _ in panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 1.3 + 0.24 * n), squeeze=False)
    for ax, (col, higher, title) in zip(axes[0], panels):
        _ranked_bars(ax, [r for r in shown if r.get(col) is not None], col, higher, title)
    fig.suptitle(f"Δm vs single-task (dashed 0), mean ± std over seeds, best on top · {context}", fontsize=10)
    fig.tight_layout()
    return P.save(fig, path)


def step_time_plot(rows: list[dict[str, Any]], context: str, path: Path) -> Path | None:
    """Training-step time per (architecture, method), fastest on top (None when none was logged)."""
    shown = [r for r in rows if r.get("step_ms") is not None]
    if not shown:
        return None
    plt = P.plt()
    shown = sorted(shown, key=lambda r: r["step_ms"][0])
    means = np.array([r["step_ms"][0] for r in shown])
    stds = np.array([r["step_ms"][1] or 0.0 for r in shown])
    fig, ax = plt.subplots(figsize=(6.4, 1.3 + 0.24 * len(shown)))
    several = any(r["step_ms"][1] is not None for r in shown)
    colors = ["0.4" if (r["model"], r["method"]) == BASELINE else "tab:green" for r in shown]
    ax.barh(range(len(shown)), means, xerr=stds if several else None, color=colors, alpha=0.85, capsize=2)
    ax.set_yticks(range(len(shown)), [_label(r) for r in shown], fontsize=7)
    ax.set_ylim(len(shown) - 0.4, -0.6)
    ax.set_xlabel("ms per training step (mean over the run's steps; ± std over seeds)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"step time, fastest on top · {context}", fontsize=9)
    fig.tight_layout()
    return P.save(fig, path)
