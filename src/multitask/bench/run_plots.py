"""Plots of one training run, drawn from its ``steps.csv`` / ``epochs.csv`` into its folder.

* ``curves.png``: each task's training loss over the epochs (per step, faint, and its running mean),
  the validation Δm per epoch with the selected epoch marked, and each task's validation metrics;
* ``weights.png``: the method's task weights over training (when they change);
* ``cosines.png``: the mean task-gradient cosine matrix (numbers in the cells) and each pair's cosine
  over training (gradient methods that log cosines).

Titles name the dataset, architecture, method and budget; the single-task baseline is called so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from multitask.bench import _plotting as P


def plot_run(run_dir: str | Path) -> list[Path]:
    """Write the plots of the run in ``run_dir`` next to its logs; returns the PNG paths written
    (none when the run has logged nothing yet). Works on a finished or a partial run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"plot_run: run directory not found: {run_dir}")
    steps = P.read_csv(run_dir / "steps.csv")
    epochs = P.read_csv(run_dir / "epochs.csv")
    if not steps and not epochs:
        return []
    cfg = P.read_config(run_dir)
    result_file = run_dir / "result.json"
    result = json.loads(result_file.read_text(encoding="utf-8")) if result_file.is_file() else {}
    tasks = _tasks(steps, epochs, result)
    title = _title(cfg, result)
    paths = [_curves(steps, epochs, tasks, result, title, run_dir / "curves.png")]
    paths.append(_weights(steps, tasks, title, run_dir / "weights.png"))
    paths.append(_cosines(steps, tasks, title, run_dir / "cosines.png"))
    return [p for p in paths if p is not None]


def _tasks(steps: list[dict[str, str]], epochs: list[dict[str, str]], result: dict[str, Any]) -> list[str]:
    if result.get("tasks"):
        return list(result["tasks"])
    if steps:
        return [c[len("loss/") :] for c in steps[0] if c.startswith("loss/")]
    seen: list[str] = []
    for c in epochs[0] if epochs else {}:
        if c.startswith("val/") and c.split("/")[1] not in seen:
            seen.append(c.split("/")[1])
    return seen


def _title(cfg: dict[str, Any], result: dict[str, Any]) -> str:
    data, model, method = (cfg.get(k) or {} for k in ("data", "model", "method"))
    dataset = result.get("dataset") or data.get("name", "?")
    arch = result.get("model") or model.get("name", "?")
    backbone = result.get("backbone") or model.get("backbone")
    name = result.get("method") or method.get("name", "?")
    who = f"{P.BASELINE_LABEL} baseline" if arch == "single_task" else f"{arch} + {name}"
    if backbone:
        who += f" ({backbone})"
    return f"{dataset} · {who} · {P.budget(cfg)}"


def _curves(steps, epochs, tasks, result, title, path: Path) -> Path:
    plt = P.plt()
    ncols = max(2, min(len(tasks), 4))
    task_rows = -(-len(tasks) // ncols)
    fig = plt.figure(figsize=(3.6 * ncols, 2.9 * (1 + task_rows)))
    grid = fig.add_gridspec(1 + task_rows, ncols)
    n_epochs = max([int(r["epoch"]) + 1 for r in steps + epochs] or [1])
    ax = fig.add_subplot(grid[0, : ncols // 2])
    if steps:
        x = P.step_epochs(steps)
        width = max(1, len(steps) // (5 * n_epochs))
        for i, task in enumerate(tasks):
            y = P.floats(steps, f"loss/{task}")
            color = f"C{i % 10}"
            ax.plot(x, y, color=color, alpha=0.25, lw=0.6)
            ax.plot(x, P.smooth(y, width), color=color, lw=1.4, label=task)
        ax.legend(fontsize=7)
    ax.set_title("training loss per task", fontsize=9)
    P.integer_epochs(ax, end=n_epochs)
    ax = fig.add_subplot(grid[0, ncols // 2 :])
    selected = result.get("best_epoch")
    if epochs:
        ex = np.array([int(r["epoch"]) + 1 for r in epochs])
        dm = P.floats(epochs, "val_delta_m")
        ax.plot(ex, dm, marker="o", color="k")
        if selected is None and np.isfinite(dm).any():
            selected = int(ex[int(np.nanargmax(dm))]) - 1
        if selected is not None and selected >= 0:
            ax.axvline(
                selected + 1, color="tab:green", ls="--", lw=1, label=f"selected (epoch {selected + 1})"
            )
            ax.legend(fontsize=7)
    reference = result.get("val_delta_m_reference")
    ax.set_title(f"validation Δm % (↑){' vs ' + reference if reference else ''}", fontsize=9)
    P.integer_epochs(ax, end=n_epochs)
    hib = result.get("higher_is_better", {})
    for k, task in enumerate(tasks):
        ax = fig.add_subplot(grid[1 + k // ncols, k % ncols])
        cols = [c for c in (epochs[0] if epochs else {}) if c.startswith(f"val/{task}/")]
        for c in cols:
            metric = c.split("/", 2)[2]
            arrow = {True: " ↑", False: " ↓"}.get(hib.get(task, {}).get(metric), "")
            ax.plot(ex, P.floats(epochs, c), marker="o", label=f"{metric}{arrow}")
        if selected is not None and selected >= 0:
            ax.axvline(selected + 1, color="tab:green", ls="--", lw=1)
        if cols:
            ax.legend(fontsize=7)
        ax.set_title(f"{task}: validation", fontsize=9)
        P.integer_epochs(ax, end=n_epochs)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return P.save(fig, path)


def _weights(steps, tasks, title, path: Path) -> Path | None:
    cols = [f"weight/{t}" for t in tasks if steps and f"weight/{t}" in steps[0]]
    values = [P.floats(steps, c) for c in cols]
    if not cols or all(np.nanmax(v) - np.nanmin(v) < 1e-12 for v in values if np.isfinite(v).any()):
        return None  # no weights, or constant ones (e.g. equal weighting)
    plt = P.plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    x = P.step_epochs(steps)
    width = max(1, len(steps) // 50)
    for i, (c, v) in enumerate(zip(cols, values)):
        ax.plot(x, v, color=f"C{i % 10}", alpha=0.25, lw=0.6)
        ax.plot(x, P.smooth(v, width), color=f"C{i % 10}", lw=1.4, label=c[len("weight/") :])
    ax.set_ylabel("task weight")
    P.integer_epochs(ax, end=int(max(x)) + 1)
    ax.legend(fontsize=7)
    ax.set_title(f"task weights\n{title}", fontsize=9)
    return P.save(fig, path)


def _cosines(steps, tasks, title, path: Path) -> Path | None:
    m = P.mean_cosines(steps, tasks)
    if m is None:
        return None
    plt = P.plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
    im = P.cosine_heatmap(left, m, tasks, "mean over training")
    fig.colorbar(im, ax=left, shrink=0.8)
    x = P.step_epochs(steps)
    width = max(1, len(steps) // 50)
    pairs = [(a, b) for i, a in enumerate(tasks) for b in tasks[i + 1 :]][:10]
    for k, (a, b) in enumerate(pairs):
        v = P.floats(steps, f"cos/{a}/{b}")
        right.plot(x, P.smooth(v, width), color=f"C{k % 10}", lw=1.2, label=f"{a} · {b}")
    right.axhline(0, color="0.6", lw=0.6)
    right.set_ylim(-1, 1)
    right.set_title(
        "cosine over training" + (f" (running mean of {width} steps)" if width > 1 else ""), fontsize=9
    )
    P.integer_epochs(right, end=int(max(x)) + 1)
    right.legend(fontsize=7)
    fig.suptitle(f"task-gradient cosines · {title}", fontsize=10)
    fig.tight_layout()
    return P.save(fig, path)
