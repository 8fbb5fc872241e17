"""Benchmark plots (matplotlib, PNG), drawn from the runs' ``epochs.csv`` / ``steps.csv`` / results.

Per architecture of the grid, in ``<out>/plots/``:

* ``val_curves_<arch>.png``: each task's main validation metric per epoch (mean over seeds), one line per
  method, the single-task baseline dashed;
* ``weights_<arch>.png``: the method weights over training (methods whose weights change; first seed);
* ``cosines_<arch>.png``: mean task-gradient cosine matrix per gradient method, values in the cells;
* ``metric_bars_<arch>.png``: each task's main test metric per method, mean ± std over seeds, sorted
  best first, the axis zoomed to the values (a far outlier, e.g. a method that did not train, leaves the
  view and its value is written at the edge), the single-task baseline drawn as a line;
* ``pareto_<arch>.png`` (two-task problems): main test metric of task 1 vs task 2 per method (mean, with
  std bars), non-dominated methods highlighted, the single-task baseline as a star, zoomed to where
  most points are (a far outlier is drawn at the edge, its label giving its values), labels that do
  not overlap.

Over the whole grid (:mod:`multitask.bench.summary_plots`): ``delta_m.png`` (Δm ranking with error
bars) and ``step_time.png`` (step time per method).

Titles name the dataset, architecture and budget. :func:`plot_run` draws one run's plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from multitask.bench import _plotting as P
from multitask.bench import summary_plots
from multitask.bench.run_plots import plot_run
from multitask.metrics import delta_metrics, non_dominated

__all__ = ["make_plots", "plot_run"]

_BASELINE = ("single_task", "ew")


def make_plots(records: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Draw every plot for the successful runs in ``records``; returns the PNG paths."""
    out = Path(out_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    ok = [r for r in records if r.get("status") == "ok"]
    base = [r for r in ok if (r["model"], r["method"]) == _BASELINE]
    archs = sorted({r["model"] for r in ok} - {_BASELINE[0]})
    paths: list[Path] = []
    if ok:
        from multitask.bench.report import summarize

        rows, ctx = summarize(records), _context(ok, "")
        paths += [p for p in (summary_plots.delta_m_plot(rows, ctx, out / "delta_m.png"),
                              summary_plots.step_time_plot(rows, ctx, out / "step_time.png"))
                  if p is not None]  # fmt: skip
    for arch in archs:
        runs = [r for r in ok if r["model"] == arch]
        ctx = _context(runs, arch)
        paths += [p for p in (
            _val_curves(runs, base, ctx, out / f"val_curves_{arch}.png"),
            _weights(runs, ctx, out / f"weights_{arch}.png"),
            _cosines(runs, ctx, out / f"cosines_{arch}.png"),
            _bars(runs, base, ctx, out / f"metric_bars_{arch}.png"),
            _pareto(runs, base, ctx, out / f"pareto_{arch}.png"),
        ) if p is not None]  # fmt: skip
    return paths


def _context(runs: list[dict[str, Any]], arch: str) -> str:
    cfg = P.read_config(Path(runs[0]["dir"]))
    seeds = len({r["seed"] for r in runs})
    where = f"{runs[0].get('dataset', '?')} · {arch} · " if arch else f"{runs[0].get('dataset', '?')} · "
    return f"{where}{P.budget(cfg, runs[0].get('epochs'))} · " + (
        f"{seeds} seed{'s' if seeds != 1 else ''}"
    )


def _main(run: dict[str, Any], task: str) -> tuple[str, bool]:
    """The task's main metric in the Vandenhende Δm (e.g. depth rmse), and whether higher is better."""
    hib = run["higher_is_better"]
    metric = delta_metrics(hib, "vandenhende")[task][0]
    return metric, bool(hib[task][metric])


def _methods(runs: list[dict[str, Any]]) -> list[str]:
    return sorted({r["method"] for r in runs})


def _style(k: int) -> dict[str, Any]:
    """Distinct colour / line style / marker for up to ~60 lines."""
    import matplotlib

    colors = matplotlib.colormaps["tab20"].colors
    return {"color": colors[k % 20], "ls": ("-", "--", ":")[k // 20 % 3], "marker": "os^"[k // 20 % 3]}


def _mean_curve(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    curves = [P.floats(P.read_csv(Path(r["dir"]) / "epochs.csv"), key) for r in runs]
    curves = [c for c in curves if c.size]
    if not curves:
        return np.array([])
    n = min(c.size for c in curves)
    return np.nanmean(np.stack([c[:n] for c in curves]), axis=0)


def _val_curves(runs, base, ctx: str, path: Path) -> Path | None:
    plt = P.plt()
    tasks = runs[0]["tasks"]
    methods = _methods(runs)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        metric, higher = _main(runs[0], task)
        key = f"val/{task}/{metric}"
        n = 1
        for k, m in enumerate(methods):
            ys = _mean_curve([r for r in runs if r["method"] == m], key)
            n = max(n, ys.size)
            ax.plot(range(1, ys.size + 1), ys, lw=1, ms=3, label=m, **_style(k))
        if base:
            ys = _mean_curve(base, key)
            ax.plot(range(1, ys.size + 1), ys, color="k", ls="--", lw=1.6, label=P.BASELINE_LABEL)
        ax.set_title(f"{task}: validation {metric} ({'↑' if higher else '↓'})", fontsize=9)
        P.integer_epochs(ax, start=1, end=n) if n > 1 else P.integer_epochs(ax)
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5), ncol=1 + len(methods) // 24)
    fig.suptitle(f"validation curves (mean over seeds) · {ctx}", fontsize=10)
    fig.tight_layout()
    return P.save(fig, path)


def _weights(runs, ctx: str, path: Path) -> Path | None:
    series = []
    for r in sorted(runs, key=lambda r: (r["method"], r["seed"])):
        if any(s[0] == r["method"] for s in series):
            continue  # first seed only
        rows = P.read_csv(Path(r["dir"]) / "steps.csv")
        cols = [c for c in (rows[0] if rows else {}) if c.startswith("weight/")]
        values = [P.floats(rows, c) for c in cols]
        if cols and any(np.nanmax(v) - np.nanmin(v) > 1e-12 for v in values if np.isfinite(v).any()):
            series.append((r["method"], P.step_epochs(rows), values, cols))
    if not series:
        return None
    plt = P.plt()
    fig, axes = _panels(plt, len(series), 3.2, 2.6)
    for ax, (method, x, values, cols) in zip(axes, series):
        width = max(1, x.size // 40)
        for i, (v, c) in enumerate(zip(values, cols)):
            ax.plot(x, P.smooth(v, width), lw=1, color=f"C{i % 10}", label=c[len("weight/") :])
        ax.set_title(method, fontsize=9)
        P.integer_epochs(ax, end=int(x.max()) + 1)
    axes[0].set_ylabel("task weight")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"task weights over training (first seed; constant ones left out) · {ctx}", fontsize=10)
    fig.tight_layout()
    return P.save(fig, path)


def _panels(plt, n: int, width: float, height: float, ncols: int = 6):
    """A figure with ``n`` panels in rows of ``ncols``; returns (figure, flat list of the n axes)."""
    cols = min(n, ncols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _cosines(runs, ctx: str, path: Path) -> Path | None:
    tasks = runs[0]["tasks"]
    mats = []
    for m in _methods(runs):
        per_seed = [P.mean_cosines(P.read_csv(Path(r["dir"]) / "steps.csv"), tasks) for r in runs
                    if r["method"] == m]  # fmt: skip
        per_seed = [c for c in per_seed if c is not None]
        if per_seed:
            mats.append((m, np.mean(per_seed, axis=0)))
    if not mats:
        return None
    plt = P.plt()
    fig, axes = _panels(plt, len(mats), 2.8, 2.7)
    order = P.cluster_order(np.mean([m for _, m in mats], axis=0)) if len(tasks) > 8 else None  # one for all
    for ax, (method, m) in zip(axes, mats):
        im = P.cosine_heatmap(ax, m, tasks, method, order)
    fig.subplots_adjust(wspace=0.55, hspace=0.6)
    fig.colorbar(im, ax=axes, shrink=0.6)
    fig.suptitle(f"mean task-gradient cosine over training (mean over seeds) · {ctx}", fontsize=10)
    return P.save(fig, path)


def _stats(runs: list[dict[str, Any]], task: str, metric: str) -> tuple[float, float]:
    vals = [r["test"][task][metric] for r in runs]
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def _bars(runs, base, ctx: str, path: Path) -> Path | None:
    plt = P.plt()
    tasks = runs[0]["tasks"]
    methods = _methods(runs)
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(4.4 * len(tasks), 1.2 + 0.22 * len(methods)), squeeze=False
    )
    for ax, task in zip(axes[0], tasks):
        metric, higher = _main(runs[0], task)
        stats = {m: _stats([r for r in runs if r["method"] == m], task, metric) for m in methods}
        order = sorted(methods, key=lambda m: stats[m][0], reverse=higher)  # best first, drawn on top
        means = np.array([stats[m][0] for m in order])
        stds = np.array([stats[m][1] for m in order])
        ref = _stats(base, task, metric)[0] if base else None
        several = len({r["seed"] for r in runs}) > 1
        ax.barh(
            range(len(order)), means, xerr=stds if several else None, capsize=2, color="tab:blue", alpha=0.8
        )
        ax.set_yticks(range(len(order)), order, fontsize=7)
        keep = _inliers(means[:, None])  # a far outlier must not squash the others' differences
        lows, highs = list((means - stds)[keep]), list((means + stds)[keep])
        note = ""
        if ref is not None:
            ax.axvline(ref, color="k", ls="--", lw=1.2)
            note = f"\ndashed: {P.BASELINE_LABEL} {ref:.4g}"
            lows.append(ref)
            highs.append(ref)
        lo, hi = min(lows), max(highs)
        pad = 0.08 * (hi - lo) + 1e-9
        ax.set_xlim(lo - pad, hi + pad)  # bars start where the differences are visible
        for k in np.flatnonzero(~keep):  # an outlier's bar leaves the view: its value is written instead
            below = means[k] < lo
            ax.text(lo - 0.9 * pad if below else hi + 0.9 * pad, k, f"{'◂ ' if below else ''}{means[k]:.3g}"
                    f"{'' if below else ' ▸'}", ha="left" if below else "right", va="center", fontsize=7,
                    color="tab:red")  # fmt: skip
        ax.set_ylim(len(order) - 0.4, -0.6)  # index 0 (the best) at the top
        ax.set_title(f"{task}: test {metric} ({'↑' if higher else '↓'}), mean ± std{note}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"test metrics, best on top · {ctx}", fontsize=10)
    fig.tight_layout()
    return P.save(fig, path)


def _pareto(runs, base, ctx: str, path: Path) -> Path | None:
    tasks = runs[0]["tasks"]
    if len(tasks) != 2:
        return None
    plt = P.plt()
    (m1, h1), (m2, h2) = _main(runs[0], tasks[0]), _main(runs[0], tasks[1])
    methods = _methods(runs)
    stats = np.array([[_stats([r for r in runs if r["method"] == m], t, k) for t, k in ((tasks[0], m1),
                      (tasks[1], m2))] for m in methods])  # fmt: skip  # [method, axis, (mean, std)]
    pts, err = stats[:, :, 0], stats[:, :, 1]
    front = non_dominated(pts, maximize=[h1, h2])
    ref = np.array([_stats(base, tasks[0], m1)[0], _stats(base, tasks[1], m2)[0]]) if base else None
    every = pts if ref is None else np.vstack([pts, ref])
    inlier = _inliers(every)
    if ref is not None:
        inlier[-1] = True  # the reference stays in view
    lo, hi = every[inlier].min(axis=0), every[inlier].max(axis=0)
    pad = 0.1 * np.maximum(hi - lo, 1e-3 * np.maximum(np.abs(hi), 1e-9))
    lo, hi = lo - pad, hi + pad
    shown = np.clip(pts, lo + 0.3 * pad, hi - 0.3 * pad)
    far = np.any((pts < lo) | (pts > hi), axis=1)
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    near = ~far
    ax.errorbar(pts[near, 0], pts[near, 1], xerr=err[near, 0], yerr=err[near, 1], fmt="none",
                ecolor="0.85", lw=0.6, zorder=1)  # fmt: skip
    spreads: dict[str, list[int]] = {}  # one method run with several settings (Pareto MTL's preferences)
    for i, m in enumerate(methods):
        name = next(r.get("method_name", m) for r in runs if r["method"] == m)
        spreads.setdefault(name, []).append(i)
    for name, idx in spreads.items():
        if len(idx) > 1:
            ax.plot(shown[idx, 0], shown[idx, 1], ls=":", lw=1, color="tab:purple", zorder=2,
                    label=f"{name}: its settings ({len(idx)})")  # fmt: skip
    for mask, color, label in ((~front, "grey", "dominated"), (front, "tab:red", "non-dominated")):
        sel = mask & near
        ax.scatter(pts[sel, 0], pts[sel, 1], c=color, s=18, label=label, zorder=3)
        sel = mask & far
        if sel.any():
            ax.scatter(shown[sel, 0], shown[sel, 1], c=color, s=30, marker="D", zorder=3,
                       label=f"{label}, outside the view (at the edge)")  # fmt: skip
    labels, xs, ys = [], [], []
    for i, ((x, y), f) in enumerate(zip(pts, far)):
        same = [j for j in range(len(methods)) if (pts[j] == pts[i]).all()]
        if same[0] != i:
            continue  # one label for methods at the same point
        name = " = ".join(methods[j] for j in same)
        labels.append(f"{name} ({x:.3g}, {y:.3g})" if f else name)
        xs.append(shown[i, 0])
        ys.append(shown[i, 1])
    if ref is not None:
        ax.scatter([ref[0]], [ref[1]], marker="*", s=160, c="k", zorder=4, label=P.BASELINE_LABEL)
        labels.append(P.BASELINE_LABEL)
        xs.append(float(np.clip(ref[0], lo[0], hi[0])))
        ys.append(float(np.clip(ref[1], lo[1], hi[1])))
    ax.set_xlabel(f"{tasks[0]} test {m1} ({'↑' if h1 else '↓'})")
    ax.set_ylabel(f"{tasks[1]} test {m2} ({'↑' if h2 else '↓'})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    several = len({r["seed"] for r in runs}) > 1
    ax.set_title(f"test metrics{', mean over seeds (bars: std)' if several else ''}\n{ctx}", fontsize=9)
    fig.tight_layout()
    P.place_labels(ax, np.array(xs), np.array(ys), labels)
    return P.save(fig, path)


def _inliers(points: np.ndarray, k: float = 3.0) -> np.ndarray:
    """Points within ``k`` interquartile ranges of the quartiles on both axes (all when fewer than 5)."""
    if len(points) < 5:
        return np.ones(len(points), dtype=bool)
    q1, q3 = np.percentile(points, [25, 75], axis=0)
    iqr = np.maximum(q3 - q1, 1e-3 * np.abs(np.median(points, axis=0)) + 1e-12)
    return np.all((points >= q1 - k * iqr) & (points <= q3 + k * iqr), axis=1)
