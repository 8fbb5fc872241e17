"""Shared drawing helpers of the bench and run plots (matplotlib, Agg backend, PNG written atomically)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

BASELINE_LABEL = "single-task"


def plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as pyplot

    return pyplot


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def budget(config: dict[str, Any], epochs: int | None = None) -> str:
    """``"4 epochs, batch 128, adam lr 0.001"`` from a run's config (what is known of it)."""
    train, data, optim = (config.get(k) or {} for k in ("train", "data", "optim"))
    n = epochs if epochs is not None else train.get("epochs")
    parts = [f"{n} epoch{'s' if n != 1 else ''}"] if n is not None else []
    if data.get("batch_size"):
        parts.append(f"batch {data['batch_size']}")
    if optim.get("name"):
        parts.append(f"{optim['name']} lr {optim.get('lr', '?'):g}" if "lr" in optim else optim["name"])
    return ", ".join(parts)


def save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    plt().close(fig)
    return path


def floats(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows], dtype=float)


def step_epochs(rows: list[dict[str, str]]) -> np.ndarray:
    """Each logged step's position in epochs: epoch ``e``'s k-th of n steps is at ``e + k / n``."""
    epochs = np.array([int(r["epoch"]) for r in rows], dtype=float)
    out = np.empty_like(epochs)
    for e in np.unique(epochs):
        idx = np.flatnonzero(epochs == e)
        out[idx] = e + np.arange(idx.size) / idx.size
    return out


def integer_epochs(ax: Any, axis: str = "x", start: int = 0, end: int | None = None) -> None:
    """Whole-epoch ticks (at most ~10) on an epoch axis."""
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True, nbins=10))
    getattr(ax, f"set_{axis}label")("epoch")
    if end is not None:  # a small margin keeps the last epoch's markers whole
        getattr(ax, f"set_{axis}lim")(start - 0.03 * (end - start), end + 0.03 * (end - start))


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Trailing running mean over ``width`` steps (NaN-aware, same length)."""
    if width <= 1 or values.size == 0:
        return values
    v = np.nan_to_num(values, nan=0.0)
    ok = (~np.isnan(values)).astype(float)
    cs, cn = np.cumsum(np.insert(v, 0, 0.0)), np.cumsum(np.insert(ok, 0, 0.0))
    idx = np.arange(values.size)
    lo = np.maximum(0, idx - width + 1)
    n = cn[idx + 1] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (cs[idx + 1] - cs[lo]) / np.maximum(n, 1), np.nan)


def mean_cosines(rows: list[dict[str, str]], tasks: list[str]) -> np.ndarray | None:
    """The task-gradient cosine matrix averaged over the logged steps, or None when not logged."""
    if len(tasks) < 2 or not rows or f"cos/{tasks[0]}/{tasks[1]}" not in rows[0]:
        return None
    m = np.eye(len(tasks))
    for i, a in enumerate(tasks):
        for j in range(i + 1, len(tasks)):
            vals = floats(rows, f"cos/{a}/{tasks[j]}")
            m[i, j] = m[j, i] = float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
    return m


def cluster_order(m: np.ndarray) -> list[int]:
    """Rows of a cosine matrix in hierarchical-clustering order: average linkage on the distance
    ``1 - cos`` with scipy's optimal leaf ordering, so tasks whose gradients agree sit next to each other
    and groups show as diagonal blocks. A NaN cosine counts as 0 (unrelated)."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    if len(m) < 3:
        return list(range(len(m)))
    d = 1.0 - np.nan_to_num(np.asarray(m, dtype=float), nan=0.0)
    d = np.clip((d + d.T) / 2, 0.0, 2.0)
    np.fill_diagonal(d, 0.0)
    tree = linkage(squareform(d, checks=False), "average", optimal_ordering=True)
    return [int(i) for i in leaves_list(tree)]


def cosine_heatmap(
    ax: Any, m: np.ndarray, tasks: list[str], title: str, order: list[int] | None = None
) -> Any:
    """A diverging heat map in [-1, 1]. Up to 8 tasks: in task order, each cell's value written in it;
    more: rows and columns in ``order`` (default :func:`cluster_order`) and no numbers, so a 40 x 40 map
    stays readable."""
    small = len(tasks) <= 8
    if order is None:
        order = list(range(len(tasks))) if small else cluster_order(m)
    m = np.asarray(m)[np.ix_(order, order)]
    tasks = [tasks[i] for i in order]
    im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu")
    for i in range(len(tasks)):
        for j in range(len(tasks)):
            if math.isfinite(m[i, j]) and small:
                color = "white" if abs(m[i, j]) > 0.6 else "black"
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=8, color=color)
    size = 7 if len(tasks) <= 16 else max(3.0, 7 * 16 / len(tasks))
    rotation, ha = (45, "right") if small else (90, "center")
    ax.set_xticks(range(len(tasks)), tasks, rotation=rotation, ha=ha, fontsize=size)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=size)
    ax.set_title(title if small else f"{title} (cluster order)", fontsize=9)
    return im


def place_labels(ax: Any, xs: np.ndarray, ys: np.ndarray, texts: list[str], fontsize: float = 7) -> list[Any]:
    """Label each point without two labels overlapping (greedy: for each point, in order of crowding,
    the first free spot on rings of growing radius; a leader line when the label sits away from its
    point). The axes limits must be final before this is called."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    frame = ax.get_window_extent(renderer)
    px = fig.dpi / 72.0
    taken = [(x - 3 * px, y - 3 * px, x + 3 * px, y + 3 * px) for x, y in pts]  # the markers themselves
    dist = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    order = np.argsort(-(dist < 40 * px).sum(axis=1), kind="stable")
    angles = [0, 180, 90, 270, 45, 135, 225, 315, 22, 158, 202, 338, 68, 112, 248, 292]
    out: list[Any] = [None] * len(texts)
    for i in order:
        best = None
        for radius in (5, 12, 20, 30, 42, 56):
            for angle in angles:
                dx, dy = radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle))
                ha = "left" if dx > 1 else "right" if dx < -1 else "center"
                va = "bottom" if dy > 1 else "top" if dy < -1 else "center"
                text = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(dx, dy), textcoords="offset points",
                                   fontsize=fontsize, ha=ha, va=va)  # fmt: skip
                box = text.get_window_extent(renderer)
                b = (box.x0 - px, box.y0 - px, box.x1 + px, box.y1 + px)
                inside = b[0] >= frame.x0 and b[2] <= frame.x1 and b[1] >= frame.y0 and b[3] <= frame.y1
                free = inside and not any(_overlap(b, t) for t in taken)
                if free:
                    best = (text, b, radius)
                    break
                text.remove()
            if best is not None:
                break
        if best is None:  # nowhere free: the nearest spot, overlapping
            text = ax.annotate(texts[i], (xs[i], ys[i]), xytext=(5, 5), textcoords="offset points",
                               fontsize=fontsize)  # fmt: skip
            box = text.get_window_extent(renderer)
            best = (text, (box.x0, box.y0, box.x1, box.y1), 5)
        text, b, radius = best
        if radius > 12:
            text.remove()
            text = ax.annotate(texts[i], (xs[i], ys[i]), xytext=text.xyann, textcoords="offset points",
                               fontsize=fontsize, ha=text.get_ha(), va=text.get_va(),
                               arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.5",
                                           "shrinkA": 0, "shrinkB": 3})  # fmt: skip
        taken.append(b)
        out[i] = text
    return out


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
