"""Search for the best ≤ k task groups under the TAG / Standley group score (see ``grouping.py``).

``task_scores(A)`` tabulates ``s_t(g)`` for every non-empty group ``g`` (bit masks), ``exact`` solves
the budgeted selection exactly by a dynamic programme over task subsets, ``greedy`` is the fallback for
many tasks. Both return a list of groups as sorted index tuples.
"""

from __future__ import annotations

import numpy as np

TOL = 1e-12


def group_task_scores(affinity: np.ndarray, group: tuple[int, ...]) -> dict[int, float]:
    """``s_t(g) = mean_{i ∈ g, i ≠ t} A[i, t]`` for each ``t ∈ g`` (0 for a single task)."""
    if len(group) == 1:
        return {group[0]: 0.0}
    cols = affinity[np.ix_(group, group)]
    sums = cols.sum(axis=0) - np.diag(cols)
    return {t: float(v) / (len(group) - 1) for t, v in zip(group, sums)}


def objective(affinity: np.ndarray, groups: list[tuple[int, ...]]) -> tuple[float, list[int], list[float]]:
    """Total score ``Σ_t max_{g ∋ t} s_t(g)``, the serving group of each task (first on ties), its score."""
    t = affinity.shape[0]
    best = [-np.inf] * t
    serve = [-1] * t
    for k, g in enumerate(groups):
        for task, s in group_task_scores(affinity, g).items():
            if s > best[task] + TOL:
                best[task], serve[task] = s, k
    return float(sum(best)), serve, [float(b) for b in best]


def task_scores(affinity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Membership ``M[g, t]`` and scores ``S[g, t] = s_t(g)`` (0 for ``t ∉ g``) of all ``2^T − 1`` groups.

    Row ``g − 1`` is the group with bit mask ``g``.
    """
    t = affinity.shape[0]
    masks = np.arange(1, 1 << t)
    member = ((masks[:, None] >> np.arange(t)[None, :]) & 1).astype(np.float64)
    size = member.sum(axis=1, keepdims=True)
    sums = member @ affinity - np.diag(affinity)[None, :]  # Σ_{i ∈ g, i ≠ t} A[i, t] for t ∈ g
    scores = np.where(size > 1, sums / np.maximum(size - 1, 1), 0.0) * member
    return member, scores


def exact(affinity: np.ndarray, k: int, overlap: bool, chunk: int = 512) -> list[tuple[int, ...]]:
    """Optimal ≤ k groups.

    Any selection is scored by the partition of the tasks into the sets each group serves, so
    ``max = max over partitions {P_1..P_m}, m ≤ k, of Σ_j best(P_j)`` with
    ``best(P) = max_{g ⊇ P} Σ_{t ∈ P} s_t(g)`` (``g = P`` without overlap). ``best`` is one masked
    matrix product over (P, g) pairs; the partition is a subset DP, ``O(k 3^T)``.
    """
    t = affinity.shape[0]
    full = (1 << t) - 1
    member, scores = task_scores(affinity)
    masks = np.arange(1, 1 << t)
    best = np.zeros(1 << t)
    best_group = np.zeros(1 << t, dtype=np.int64)
    if not overlap:
        best[1:] = (member * scores).sum(axis=1)
        best_group[1:] = masks
    else:
        order = np.lexsort((masks, member.sum(axis=1)))  # candidate groups, smallest first on ties
        g_masks, g_scores = masks[order], scores[order]
        for start in range(0, full, chunk):
            p_masks = masks[start : start + chunk]
            values = member[start : start + chunk] @ g_scores.T
            values[(g_masks[None, :] & p_masks[:, None]) != p_masks[:, None]] = -np.inf
            top = values.max(axis=1, keepdims=True)
            pick = np.argmax(values >= top - TOL, axis=1)
            best[p_masks] = top[:, 0]
            best_group[p_masks] = g_masks[pick]
    k = min(k, t)
    value = np.full(1 << t, -np.inf)
    value[0] = 0.0
    choice: list[np.ndarray] = []
    best_list = best.tolist()
    for _ in range(k):
        prev = value.tolist()
        cur = list(prev)
        pick = [0] * (1 << t)
        for s in range(1, 1 << t):
            low = s & -s
            rest = s ^ low
            sub = rest
            while True:  # P = low | sub over all submasks sub of rest
                p = low | sub
                v = best_list[p] + prev[s ^ p]
                if v > cur[s] + TOL:
                    cur[s], pick[s] = v, p
                if sub == 0:
                    break
                sub = (sub - 1) & rest
        value = np.asarray(cur)
        choice.append(np.asarray(pick))
    groups: list[int] = []
    s, m = full, k
    while s:
        while choice[m - 1][s] == 0:  # reached with fewer groups
            m -= 1
        p = int(choice[m - 1][s])
        groups.append(int(best_group[p]))
        s ^= p
        m -= 1
    return sorted({_tuple(g) for g in groups})


def greedy(affinity: np.ndarray, k: int, overlap: bool) -> list[tuple[int, ...]]:
    """Agglomerative merging, then (with overlap) greedy helper-task additions.

    Start from singletons; merge the pair of groups with the largest gain in ``Σ_{t ∈ g} s_t(g)``
    while more than ``k`` groups remain or a merge gains; then (with overlap) repeatedly make the move
    that raises the total score most, until none does: add a helper task to a group, or, while the
    budget allows, add a new two-task group.
    """
    t = affinity.shape[0]
    blocks: list[tuple[int, ...]] = [(i,) for i in range(t)]

    def value(g: tuple[int, ...]) -> float:
        return sum(group_task_scores(affinity, g).values())

    while len(blocks) > 1:
        gain, a, b = max(
            (value(tuple(sorted(x + y))) - value(x) - value(y), i, j)
            for i, x in enumerate(blocks)
            for j, y in enumerate(blocks)
            if i < j
        )
        if len(blocks) <= k and gain <= TOL:
            break
        merged = tuple(sorted(blocks[a] + blocks[b]))
        blocks = [g for i, g in enumerate(blocks) if i not in (a, b)] + [merged]
    if overlap:
        current = objective(affinity, blocks)[0]
        while True:
            best_score, best_groups = current + TOL, None
            for trial in _moves(blocks, t, k):
                score = objective(affinity, trial)[0]
                if score > best_score:
                    best_score, best_groups = score, trial
            if best_groups is None:
                break
            current, blocks = best_score, best_groups
    return sorted(set(blocks))


def _moves(blocks: list[tuple[int, ...]], t: int, k: int) -> list[list[tuple[int, ...]]]:
    """Neighbour selections: one helper task added to a group, or (budget left) a new pair group."""
    out = []
    for i, g in enumerate(blocks):
        for u in range(t):
            if u not in g:
                out.append([*blocks[:i], tuple(sorted((*g, u))), *blocks[i + 1 :]])
    if len(blocks) < k:
        present = set(blocks)
        out.extend([*blocks, (u, v)] for u in range(t) for v in range(u + 1, t) if (u, v) not in present)
    return out


def _tuple(mask: int) -> tuple[int, ...]:
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)
