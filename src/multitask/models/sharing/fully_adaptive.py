"""Fully-adaptive feature sharing: widen a thin shared network top-down by grouping tasks that are
easy or hard on the same examples. Produces ``branched`` configs (the procedure, not a module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from multitask.models.sharing._supergraph import set_partitions


def easiness_affinity(losses: Any) -> np.ndarray:
    """``[T, T]`` affinity ``A(i, j) = P(e_i = e_j = 1) + P(e_i = e_j = 0)`` from ``[N, T]`` per-example
    losses, with ``e_t^n = 1`` ("easy") when example ``n``'s loss is below task ``t``'s mean loss.

    Lu et al. define the affinity through examples being simultaneously easy or difficult for two
    tasks; the mean-loss threshold is our choice of "easy".
    """
    if hasattr(losses, "detach"):  # a torch tensor
        losses = losses.detach().cpu().numpy()
    arr = np.asarray(losses, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"easiness_affinity: losses must be [examples, tasks], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("easiness_affinity: losses must be finite")
    easy = (arr < arr.mean(axis=0, keepdims=True)).astype(float)
    both_easy = easy.T @ easy / len(arr)
    both_hard = (1 - easy).T @ (1 - easy) / len(arr)
    return both_easy + both_hard


def branch_affinity(affinity: np.ndarray, branches: Sequence[Sequence[int]]) -> np.ndarray:
    """Affinity of two branches (task groups): ``(mean_{i in k} min_{j in l} A(i, j) +
    mean_{j in l} min_{i in k} A(i, j)) / 2``, the paper's average of the two directed worst cases."""
    a = np.asarray(affinity, dtype=float)
    n = len(branches)
    out = np.ones((n, n))
    for x in range(n):
        for y in range(n):
            if x != y:
                sub = a[np.ix_(list(branches[x]), list(branches[y]))]
                out[x, y] = (sub.min(axis=1).mean() + sub.min(axis=0).mean()) / 2
    return out


def widen(
    affinity: np.ndarray, branches: Sequence[Sequence[int]], branch_cost: float, alpha: float
) -> list[list[int]]:
    """Group the ``branches`` that meet at one layer into ``c`` new branches (one copy of the layer each),
    minimising ``(c - 1) · branch_cost + alpha · L_s`` with the separation loss
    ``L_s = 1/c · sum_groups max_{k, l in group} (1 - A_b(k, l))`` (0 for a group of one branch).

    Every grouping is tried (Bell(B) of them; the paper clusters greedily). Returns the groups as lists
    of branch indices. ``alpha`` trades separation against the cost of a new branch.
    """
    if alpha < 0 or branch_cost < 0:
        raise ValueError(f"widen: alpha and branch_cost must be >= 0, got {alpha}, {branch_cost}")
    b = branch_affinity(affinity, branches)
    best, best_loss = None, np.inf
    for groups in set_partitions(len(branches)):
        sep = sum(max((1 - b[k, l] for k in g for l in g if k != l), default=0.0) for g in groups)
        loss = (len(groups) - 1) * branch_cost + alpha * sep / len(groups)
        if loss < best_loss - 1e-12 or (abs(loss - best_loss) <= 1e-12 and len(groups) < len(best)):
            best, best_loss = groups, loss
    return [list(g) for g in best]


def fully_adaptive_branches(
    affinity: np.ndarray, num_blocks: int, alpha: float, base_cost: float = 1.0, growth: float = 2.0
) -> list[list[list[int]]]:
    """The tree of a fully-adaptive widening, as ``branched``'s per-block partitions.

    Lu, Kumar, Zhai, Cheng, Javidi, Feris. Fully-adaptive Feature Sharing in Multi-Task Networks with
    Applications in Person Attribute Classification. CVPR 2017.

    Starting from a thin network whose blocks are all shared and whose output layer has one branch per
    task, the blocks are visited top-down: at block ``l`` the branches that meet there are grouped by
    :func:`widen` (cost of a new branch ``base_cost · growth^(num_blocks - 1 - l)``, the paper's
    ``L_0 · 2^{p_l}`` growing with the pooling layers above) and each group gets its own copy of block
    ``l`` and of everything below it up to the next split. The paper re-trains and re-estimates the
    affinity after each widening; this helper applies one affinity to every round (call :func:`widen`
    round by round to interleave training).
    """
    a = np.asarray(affinity, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"fully_adaptive_branches: affinity must be square, got shape {a.shape}")
    if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1:
        raise ValueError(f"fully_adaptive_branches: num_blocks must be a positive int, got {num_blocks!r}")
    branches: list[list[int]] = [[t] for t in range(len(a))]
    partitions: list[list[list[int]]] = []
    for l in reversed(range(num_blocks)):
        cost = base_cost * growth ** (num_blocks - 1 - l)
        groups = widen(a, branches, cost, alpha)
        branches = sorted(sorted(t for k in g for t in branches[k]) for g in groups)
        partitions.append(branches)
    return partitions[::-1]
