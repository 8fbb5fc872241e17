"""Layer-wise task dissimilarity and the branching tree under a budget (Vandenhende et al., BMVC 2020).

Vandenhende, Georgoulis, De Brabandere, Van Gool. Branched Multi-Task Networks: Deciding What Layers
To Share. BMVC 2020.

1. **Representation similarity** at each candidate branching point ``l`` (a backbone block): the
   features ``F^l_t`` of every task's own network (single-task or fine-tuned) on the same ``K`` inputs.
   ``"rsa"`` (the paper): each task's representation dissimilarity matrix ``RDM^l_t = 1 − corr`` of the
   ``K`` flattened feature vectors (Pearson), then ``D^l[i, j] = 1 − ρ_Spearman`` of the upper
   triangles of ``RDM^l_i`` and ``RDM^l_j``. ``"cka"``: ``D^l[i, j] = 1 − CKA(F^l_i, F^l_j)`` with linear
   CKA (Kornblith et al., ICML 2019) as a cheaper alternative.
2. **The tree**: a partition ``P_l`` of the tasks per block, each refining the previous (a group
   shares block ``l``). Its dissimilarity score sums, over the blocks, the mean over the groups of
   ``P_l`` of the largest dissimilarity inside the group, ``C = Σ_l mean_{g ∈ P_l} max_{i, j ∈ g} D^l[i, j]``
   (a task alone: 0). Its cost is ``Σ_l |P_l| c_l`` (``c_l``: parameters or FLOPs of block ``l``).
   :func:`branching_tree` returns the tree of least score whose cost is within ``budget``, by a dynamic
   programme over (block, partition) keeping the Pareto front of (cost, score) (exact, as the paper's
   exhaustive enumeration; practical up to about 7 tasks).

The result's ``branches`` is the ``branches`` argument of the ``branched`` architecture.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor

__all__ = ["BranchingTree", "branch_features", "branching_tree", "layer_dissimilarity"]

MAX_TASKS = 8
Partition = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class BranchingTree:
    """A branching tree.

    Attributes:
        branches: one partition of the task indices per block (the ``branched`` config).
        score: ``Σ_l mean_{g ∈ P_l} max_{i, j ∈ g} D^l[i, j]``.
        cost: ``Σ_l |P_l| c_l``.
        layer_scores: the score of each block.
    """

    branches: list[list[list[int]]]
    score: float
    cost: float
    layer_scores: tuple[float, ...]


def layer_dissimilarity(features: Mapping[str, Sequence[Tensor]], method: str = "rsa") -> np.ndarray:
    """``D[l, i, j]``: dissimilarity of tasks ``i`` and ``j`` at block ``l`` (``[L, T, T]``, zero diagonal).

    Args:
        features: ``{task: [F^0, F^1, ...]}``, each ``F^l`` a ``[K, ...]`` tensor of that task's
            network's block-``l`` features on the same ``K`` inputs (``K ≥ 3``).
        method: ``"rsa"`` or ``"cka"`` (see the module docstring).
    """
    if method not in ("rsa", "cka"):
        raise ValueError(f"layer_dissimilarity: method must be 'rsa' or 'cka', got {method!r}")
    if not isinstance(features, Mapping) or len(features) < 2:
        raise ValueError("layer_dissimilarity: features must map at least two tasks to their block features")
    names = list(features)
    depth = {len(v) for v in features.values()}
    if len(depth) != 1 or not depth.pop():
        raise ValueError(f"layer_dissimilarity: every task needs features at the same blocks, got "
                         f"{ {t: len(v) for t, v in features.items()} }")  # fmt: skip
    blocks = len(features[names[0]])
    out = np.zeros((blocks, len(names), len(names)))
    for l in range(blocks):
        mats = [_matrix(features[t][l], t, l) for t in names]
        k = {m.shape[0] for m in mats}
        if len(k) != 1 or mats[0].shape[0] < 3:
            raise ValueError(
                f"layer_dissimilarity: block {l}: all tasks need the same K >= 3 inputs, got {sorted(k)}"
            )
        if method == "rsa":
            upper = np.triu_indices(mats[0].shape[0], 1)
            vecs = [_rdm(m, t, l)[upper] for m, t in zip(mats, names)]
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    rho = spearmanr(vecs[i], vecs[j]).statistic
                    out[l, i, j] = out[l, j, i] = 1.0 - (0.0 if np.isnan(rho) else float(rho))
        else:
            for i in range(len(names)):
                for j in range(i + 1, len(names)):
                    out[l, i, j] = out[l, j, i] = 1.0 - _linear_cka(mats[i], mats[j])
    return out


def branching_tree(dissimilarity: Any, block_costs: Sequence[float], budget: float) -> BranchingTree:
    """The least-dissimilar tree whose cost ``Σ_l |P_l| c_l`` is at most ``budget`` (module docstring).

    Args:
        dissimilarity: ``[L, T, T]`` (e.g. from :func:`layer_dissimilarity`), ``T ≤ 8``.
        block_costs: ``c_l`` for the ``L`` blocks (parameters or FLOPs; ≥ 0).
        budget: the most total cost; at least ``Σ_l c_l`` (the fully shared network).
    """
    d = np.asarray(dissimilarity, dtype=np.float64)
    if d.ndim != 3 or d.shape[1] != d.shape[2] or d.shape[0] == 0:
        raise ValueError(f"branching_tree: dissimilarity must be [L, T, T], got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("branching_tree: dissimilarity has non-finite entries")
    blocks, t = d.shape[0], d.shape[1]
    if t > MAX_TASKS:
        raise ValueError(f"branching_tree: exhaustive tree search is limited to {MAX_TASKS} tasks, got {t}")
    costs = [float(c) for c in block_costs]
    if len(costs) != blocks or any(not np.isfinite(c) or c < 0 for c in costs):
        raise ValueError(
            f"branching_tree: block_costs must be {blocks} finite numbers >= 0, got {list(block_costs)}"
        )
    if not sum(costs) <= budget + 1e-9:
        raise ValueError(
            f"branching_tree: budget {budget} is below the cost of the fully shared network ({sum(costs)})"
        )
    partitions = _partitions(tuple(range(t)))
    scores = [{p: _partition_score(d[l], p) for p in partitions} for l in range(blocks)]
    # front[p] = Pareto list of (cost, score, parent state) for trees ending in partition p at this block
    front: dict[Partition, list[tuple[float, float, Any]]] = {}
    for p in partitions:
        c = len(p) * costs[0]
        if c <= budget + 1e-9:
            front[p] = [(c, scores[0][p], None)]
    history = [front]
    for l in range(1, blocks):
        nxt: dict[Partition, list[tuple[float, float, Any]]] = {}
        for p, states in front.items():
            for q in _refinements(p):
                step = len(q) * costs[l]
                for c, s, _ in states:
                    if c + step <= budget + 1e-9:
                        nxt.setdefault(q, []).append((c + step, s + scores[l][q], (p, c, s)))
        front = {q: _pareto(v) for q, v in nxt.items()}
        history.append(front)
    best = min(((s, c, p) for p, states in front.items() for c, s, _ in states), key=lambda x: (x[0], x[1]))
    score, cost, last = best
    chain = [last]
    state = next(st for st in front[last] if st[0] == cost and st[1] == score)
    for l in range(blocks - 1, 0, -1):
        parent = state[2]
        chain.append(parent[0])
        state = next(st for st in history[l - 1][parent[0]] if st[0] == parent[1] and st[1] == parent[2])
    chain.reverse()
    branches = [[list(g) for g in p] for p in chain]
    layer_scores = tuple(float(scores[l][p]) for l, p in enumerate(chain))
    return BranchingTree(branches, float(score), float(cost), layer_scores)


def branch_features(model: Any, x: Tensor) -> dict[str, list[Tensor]]:
    """``{task: [block-0 output, block-1 output, ...]}`` of a ``branched`` model on ``x`` (no grad).

    Each task gets the output of the branch it belongs to at each block; for single-task networks
    (every block split into single tasks: ``branches=[[[0], [1], ...]]``) these are the per-task
    features :func:`layer_dissimilarity` needs.
    """
    from multitask.models.backbones import copy_context, new_context

    if not hasattr(model, "branch_blocks") or not hasattr(model, "partitions"):
        raise TypeError(f"branch_features needs a 'branched' model, got {type(model).__name__}")
    out: dict[str, list[Tensor]] = {t.name: [] for t in model.tasks}
    names = [t.name for t in model.tasks]
    with torch.no_grad():
        states: dict[tuple[int, ...], tuple[Tensor, dict]] = {tuple(range(len(names))): (x, new_context())}
        for blocks, partition in zip(model.branch_blocks, model.partitions):
            new_states = {}
            for block, group in zip(blocks, partition):
                parent = next(k for k in states if set(group) <= set(k))
                h, ctx = states[parent]
                ctx = copy_context(ctx)
                new_states[group] = (block(h, ctx)[1], ctx)
            for group, (h, _) in new_states.items():
                for i in group:
                    out[names[i]].append(h.detach())
            states = new_states
    return out


# ---- helpers ---------------------------------------------------------------------------------
def _matrix(f: Any, task: str, block: int) -> np.ndarray:
    if not isinstance(f, (Tensor, np.ndarray)):
        raise TypeError(f"layer_dissimilarity: features of task {task!r} at block {block} must be a tensor")
    arr = f.detach().to("cpu", torch.float64).numpy() if isinstance(f, Tensor) else np.asarray(f, np.float64)
    if arr.ndim < 2:
        raise ValueError(f"layer_dissimilarity: features of task {task!r} at block {block} must be [K, ...]")
    arr = arr.reshape(arr.shape[0], -1)
    if not np.isfinite(arr).all():
        raise ValueError(f"layer_dissimilarity: features of task {task!r} at block {block} are not finite")
    return arr


def _rdm(m: np.ndarray, task: str, block: int) -> np.ndarray:
    centered = m - m.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centered, axis=1)
    if (norms == 0).any():
        raise ValueError(
            f"layer_dissimilarity: task {task!r}, block {block}: an input's features are constant "
            "(the Pearson correlation of the RDM is undefined)"
        )
    unit = centered / norms[:, None]
    return 1.0 - unit @ unit.T


def _linear_cka(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    hsic = np.linalg.norm(a.T @ b) ** 2
    den = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    return float(hsic / den) if den > 0 else 0.0


def _partition_score(d: np.ndarray, partition: Partition) -> float:
    return float(np.mean([d[np.ix_(g, g)].max() if len(g) > 1 else 0.0 for g in partition]))


def _partitions(items: tuple[int, ...]) -> list[Partition]:
    if not items:
        return [()]
    first, rest = items[0], items[1:]
    out = []
    for sub in _partitions(rest):
        out.append(tuple(sorted(((first,), *sub))))
        for i, g in enumerate(sub):
            merged = (*sub[:i], tuple(sorted((first, *g))), *sub[i + 1 :])
            out.append(tuple(sorted(merged)))
    return out


def _refinements(p: Partition) -> list[Partition]:
    options = [_partitions(g) for g in p]
    out = []
    for combo in _product(options):
        out.append(tuple(sorted(g for part in combo for g in part)))
    return out


def _product(options: list[list[Partition]]) -> list[tuple[Partition, ...]]:
    result: list[tuple[Partition, ...]] = [()]
    for opts in options:
        result = [(*r, o) for r in result for o in opts]
    return result


def _pareto(states: list[tuple[float, float, Any]]) -> list[tuple[float, float, Any]]:
    states = sorted(states, key=lambda s: (s[0], s[1]))
    out: list[tuple[float, float, Any]] = []
    for st in states:
        if not out or st[1] < out[-1][1] - 1e-12:
            out.append(st)
    return out
