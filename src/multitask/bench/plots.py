"""Benchmark plots (matplotlib, PNG), drawn from the runs' ``epochs.csv`` / ``steps.csv`` / results.

* ``val_curves_<arch>.png``: each task's main validation metric per epoch, one line per method;
* ``weights_<arch>.png``: the method weights over training (methods that have weights);
* ``cosines_<arch>.png``: mean task-gradient cosine matrix over training, per gradient method;
* ``metric_bars_<arch>.png``: each task's main test metric per method, mean ± std over seeds;
* ``pareto_<arch>.png`` (two-task problems): main test metric of task 1 vs task 2 per method, with the
  non-dominated methods highlighted.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from multitask.metrics import non_dominated


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    _plt().close(fig)
    return path


def make_plots(records: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Draw every plot for the successful runs in ``records``; returns the PNG paths."""
    out = Path(out_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    ok = [r for r in records if r.get("status") == "ok"]
    paths: list[Path] = []
    for arch in sorted({r["model"] for r in ok}):
        runs = [r for r in ok if r["model"] == arch]
        paths += [p for p in (
            _val_curves(runs, out / f"val_curves_{arch}.png"),
            _weights(runs, out / f"weights_{arch}.png"),
            _cosines(runs, out / f"cosines_{arch}.png"),
            _bars(runs, out / f"metric_bars_{arch}.png"),
            _pareto(runs, out / f"pareto_{arch}.png"),
        ) if p is not None]  # fmt: skip
    return paths


def _grid(plt, n: int, width: float, height: float, ncols: int = 6):
    """A figure with ``n`` panels in rows of ``ncols``; returns (figure, flat list of the n axes)."""
    cols = min(n, ncols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _main(run: dict[str, Any], task: str) -> tuple[str, bool]:
    metric, higher = next(iter(run["higher_is_better"][task].items()))
    return metric, higher


def _first_seed(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for r in sorted(runs, key=lambda r: r["seed"]):
        if r["method"] not in seen:
            seen.add(r["method"])
            out.append(r)
    return out


def _val_curves(runs: list[dict[str, Any]], path: Path) -> Path | None:
    plt = _plt()
    tasks = runs[0]["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        metric, higher = _main(runs[0], task)
        for r in _first_seed(runs):
            rows = _read_csv(Path(r["dir"]) / "epochs.csv")
            key = f"val/{task}/{metric}"
            ys = [float(row[key]) for row in rows if row.get(key)]
            ax.plot(range(1, len(ys) + 1), ys, marker="o", label=r["method"])
        ax.set_title(f"{task}: val {metric} ({'↑' if higher else '↓'})")
        ax.set_xlabel("epoch")
    axes[0][-1].legend(fontsize=7, loc="best")
    return _save(fig, path)


def _weights(runs: list[dict[str, Any]], path: Path) -> Path | None:
    plt = _plt()
    series = []
    for r in _first_seed(runs):
        rows = _read_csv(Path(r["dir"]) / "steps.csv")
        cols = [c for c in (rows[0] if rows else {}) if c.startswith("weight/")]
        if cols:
            series.append((r["method"], [[float(row[c] or "nan") for row in rows] for c in cols], cols))
    if not series:
        return None
    fig, axes = _grid(plt, len(series), 3.2, 2.6)
    for ax, (method, values, cols) in zip(axes, series):
        for v, c in zip(values, cols):
            ax.plot(v, label=c[len("weight/") :], lw=1)
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
    axes[0].set_ylabel("task weight")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _cosines(runs: list[dict[str, Any]], path: Path) -> Path | None:
    plt = _plt()
    tasks = runs[0]["tasks"]
    mats = []
    for r in _first_seed(runs):
        rows = _read_csv(Path(r["dir"]) / "steps.csv")
        if not rows or f"cos/{tasks[0]}/{tasks[1] if len(tasks) > 1 else tasks[0]}" not in rows[0]:
            continue
        m = np.eye(len(tasks))
        for i, a in enumerate(tasks):
            for j in range(i + 1, len(tasks)):
                vals = [float(row[f"cos/{a}/{tasks[j]}"]) for row in rows if row.get(f"cos/{a}/{tasks[j]}")]
                m[i, j] = m[j, i] = float(np.mean(vals)) if vals else np.nan
        mats.append((r["method"], m))
    if not mats:
        return None
    fig, axes = _grid(plt, len(mats), 3.2, 3.0)
    for ax, (method, m) in zip(axes, mats):
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu")
        ax.set_xticks(range(len(tasks)), tasks, rotation=45, fontsize=7)
        ax.set_yticks(range(len(tasks)), tasks, fontsize=7)
        ax.set_title(f"{method}: mean cos", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8)
    return _save(fig, path)


def _bars(runs: list[dict[str, Any]], path: Path) -> Path | None:
    plt = _plt()
    tasks = runs[0]["tasks"]
    methods = sorted({r["method"] for r in runs})
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(4.0, 0.5 * len(methods)) * len(tasks), 3.5),
                             squeeze=False)  # fmt: skip
    for ax, task in zip(axes[0], tasks):
        metric, higher = _main(runs[0], task)
        means, stds = [], []
        for m in methods:
            vals = [r["test"][task][metric] for r in runs if r["method"] == m]
            means.append(np.mean(vals))
            stds.append(np.std(vals, ddof=1) if len(vals) > 1 else 0.0)
        ax.bar(range(len(methods)), means, yerr=stds, capsize=3)
        ax.set_xticks(range(len(methods)), methods, rotation=60, fontsize=7)
        lo, hi = min(means), max(means)
        pad = (hi - lo) * 0.5 + 1e-3
        ax.set_ylim(lo - pad - max(stds), hi + pad + max(stds))
        ax.set_title(f"{task}: test {metric} ({'↑' if higher else '↓'})")
    return _save(fig, path)


def _pareto(runs: list[dict[str, Any]], path: Path) -> Path | None:
    tasks = runs[0]["tasks"]
    if len(tasks) != 2:
        return None
    plt = _plt()
    (m1, h1), (m2, h2) = _main(runs[0], tasks[0]), _main(runs[0], tasks[1])
    methods = sorted({r["method"] for r in runs})
    pts = np.array([[np.mean([r["test"][t][m] for r in runs if r["method"] == meth]) for t, m in
                     ((tasks[0], m1), (tasks[1], m2))] for meth in methods])  # fmt: skip
    front = non_dominated(pts, maximize=[h1, h2])
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(pts[~front, 0], pts[~front, 1], c="grey", label="dominated")
    ax.scatter(pts[front, 0], pts[front, 1], c="tab:red", label="non-dominated")
    for (x, y), meth in zip(pts, methods):
        ax.annotate(meth, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"{tasks[0]} test {m1} ({'↑' if h1 else '↓'})")
    ax.set_ylabel(f"{tasks[1]} test {m2} ({'↑' if h2 else '↓'})")
    ax.legend(fontsize=7)
    return _save(fig, path)
