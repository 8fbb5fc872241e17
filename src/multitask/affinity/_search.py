"""Search for the best ≤ k task groups under the TAG / Standley group score (see ``grouping.py``).

``exact`` solves the budgeted selection exactly by dynamic programmes over task subsets (vectorised
over the ``3^T`` (set, subset) pairs); ``greedy`` is the fallback for many tasks: agglomerative
merging, then best-improvement local search. Both return a list of groups as sorted index tuples.

``singleton`` is the score of a task alone in its group: ``"zero"`` (it gains nothing) or ``"tag"``
(``−∞``, as TAG's network-selection notebook scores it: such a group is never chosen to serve a task).
"""

from __future__ import annotations

import numpy as np

TOL = 1e-12
SINGLETON_RULES = ("zero", "tag")


def group_task_scores(
    affinity: np.ndarray, group: tuple[int, ...], singleton: str = "zero"
) -> dict[int, float]:
    """``s_t(g) = mean_{i ∈ g, i ≠ t} A[i, t]`` for each ``t ∈ g`` (a single task: 0 or −∞)."""
    if len(group) == 1:
        return {group[0]: 0.0 if singleton == "zero" else -np.inf}
    cols = affinity[np.ix_(group, group)]
    sums = cols.sum(axis=0) - np.diag(cols)
    return {t: float(v) / (len(group) - 1) for t, v in zip(group, sums)}


def objective(
    affinity: np.ndarray, groups: list[tuple[int, ...]], singleton: str = "zero"
) -> tuple[float, list[int], list[float]]:
    """Total score ``Σ_t max_{g ∋ t} s_t(g)``, the serving group of each task (first on ties), its score.

    A task in no group has serving group ``-1`` and score ``−∞``.
    """
    t = affinity.shape[0]
    best = [-np.inf] * t
    serve = [-1] * t
    for k, g in enumerate(groups):
        for task, s in group_task_scores(affinity, g, singleton).items():
            if serve[task] < 0 or s > best[task] + TOL:
                best[task], serve[task] = s, k
    return float(sum(best)), serve, [float(b) for b in best]


def subset_pairs(t: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``3^T`` pairs ``(outer, inner)`` of bit masks with ``inner ⊆ outer ⊆ {0..T-1}``."""
    outer = np.zeros(1, dtype=np.int64)
    inner = np.zeros(1, dtype=np.int64)
    for i in range(t):
        bit = np.int64(1 << i)
        outer = np.concatenate([outer, outer | bit, outer | bit])
        inner = np.concatenate([inner, inner, inner | bit])
    return outer, inner


def _segment_best(
    key: np.ndarray, value: np.ndarray, other: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per ``key`` in ``0..size-1``: the max of ``value`` and the ``other`` of the first pair reaching it.

    Pairs must be sorted by key (ties inside a key are broken by the order of the pairs). Keys
    without pairs get ``−∞`` and ``0``.
    """
    best = np.full(size, -np.inf)
    np.maximum.at(best, key, value)
    hit = value >= best[key] - TOL
    idx = np.flatnonzero(hit)
    first_keys, first = np.unique(key[idx], return_index=True)
    pick = np.zeros(size, dtype=np.int64)
    pick[first_keys] = other[idx[first]]
    return best, pick


def best_served(affinity: np.ndarray, overlap: bool, singleton: str) -> tuple[np.ndarray, np.ndarray]:
    """``best[P] = max_{g ⊇ P} Σ_{t ∈ P} s_t(g)`` (``g = P`` without overlap) and the maximising ``g``.

    With overlap this runs over the ``3^T`` pairs ``P ⊆ g``; on ties the smallest group (then the
    smallest mask) is taken.
    """
    t = affinity.shape[0]
    masks = np.arange(1 << t, dtype=np.int64)
    member = ((masks[:, None] >> np.arange(t)[None, :]) & 1).astype(bool)
    size = member.sum(axis=1)
    sums = member.astype(np.float64) @ affinity - np.diag(affinity)[None, :]  # Σ_{i ∈ g, i ≠ t} A[i, t]
    scores = sums / np.maximum(size - 1, 1)[:, None]
    scores[size == 1] = 0.0 if singleton == "zero" else -np.inf
    scores[~member] = 0.0
    if not overlap:
        best = np.where(member, scores, 0.0).sum(axis=1)
        best[0] = 0.0
        return best, masks.copy()
    g, p = subset_pairs(t)
    keep = (p != 0) & ((size[g] > 1) if singleton == "tag" else True)
    g, p = g[keep], p[keep]
    order = np.lexsort((g, size[g], p))
    g, p = g[order], p[order]
    value = np.zeros(len(g))
    for i in range(t):
        inside = ((p >> i) & 1).astype(bool)
        value[inside] += scores[g[inside], i]
    best, pick = _segment_best(p, value, g, 1 << t)
    best[0] = 0.0
    return best, pick


def exact(affinity: np.ndarray, k: int, overlap: bool, singleton: str = "zero") -> list[tuple[int, ...]]:
    """Optimal ≤ k groups.

    Any selection is scored by the partition of the tasks into the sets each group serves, so
    ``max = max over partitions {P_1..P_m}, m ≤ k, of Σ_j best(P_j)`` (:func:`best_served`); the
    partition is a subset DP over the pairs ``(S, P ⊆ S)`` with ``P`` holding the lowest task of ``S``,
    ``O(k 3^T)`` vectorised.
    """
    t = affinity.shape[0]
    full = (1 << t) - 1
    best, best_group = best_served(affinity, overlap, singleton)
    s, p = subset_pairs(t)
    keep = (p != 0) & ((p & -p) == (s & -s))
    s, p = s[keep], p[keep]
    order = np.argsort(s, kind="stable")
    s, p = s[order], p[order]
    rest = s ^ p
    k = min(k, t)
    value = np.full(1 << t, -np.inf)
    value[0] = 0.0
    choice: list[np.ndarray] = []
    for _ in range(k):
        cand = best[p] + value[rest]
        top, pick = _segment_best(s, cand, p, 1 << t)
        better = top > value + TOL
        pick[~better] = 0  # reached with fewer groups
        value = np.where(better, top, value)
        choice.append(pick)
    if not np.isfinite(value[full]):
        raise ValueError("no selection of at most k groups gives every task a finite score")
    groups: list[int] = []
    cur, m = full, k
    while cur:
        while choice[m - 1][cur] == 0:
            m -= 1
        part = int(choice[m - 1][cur])
        groups.append(int(best_group[part]))
        cur ^= part
        m -= 1
    return sorted({_tuple(g) for g in groups})


def greedy(affinity: np.ndarray, k: int, overlap: bool, singleton: str = "zero") -> list[tuple[int, ...]]:
    """Agglomerative merging, then best-improvement local search.

    Start from singletons; merge the pair of groups with the largest gain in ``Σ_{t ∈ g} s_t(g)``
    while more than ``k`` groups remain or a merge gains (a merge out of a ``−∞`` singleton always
    gains). Then repeatedly make the neighbouring selection (:func:`_moves`) that raises the total score
    most, until none does.
    """
    t = affinity.shape[0]
    blocks: list[tuple[int, ...]] = [(i,) for i in range(t)]

    def value(g: tuple[int, ...]) -> float:
        return 0.0 if len(g) == 1 else sum(group_task_scores(affinity, g, singleton).values())

    def gain(x: tuple[int, ...], y: tuple[int, ...]) -> tuple[bool, float]:
        forced = singleton == "tag" and (len(x) == 1 or len(y) == 1)  # a −∞ singleton must merge
        return forced, value(tuple(sorted(x + y))) - value(x) - value(y)

    while len(blocks) > 1:
        (forced, best_gain), a, b = max(
            (gain(x, y), i, j) for i, x in enumerate(blocks) for j, y in enumerate(blocks) if i < j
        )
        if len(blocks) <= k and not forced and best_gain <= TOL:
            break
        merged = tuple(sorted(blocks[a] + blocks[b]))
        blocks = [g for i, g in enumerate(blocks) if i not in (a, b)] + [merged]
    return local_search(affinity, blocks, k, overlap, singleton)


def local_search(
    affinity: np.ndarray, groups: list[tuple[int, ...]], k: int, overlap: bool, singleton: str = "zero"
) -> list[tuple[int, ...]]:
    """Best-improvement hill climbing over :func:`_moves` from ``groups``."""
    t = affinity.shape[0]
    cache: dict[tuple[int, ...], np.ndarray] = {}

    def total(sel: list[tuple[int, ...]]) -> float:
        best = np.full(t, -np.inf)
        for g in sel:
            row = cache.get(g)
            if row is None:
                row = np.full(t, -np.inf)
                for task, v in group_task_scores(affinity, g, singleton).items():
                    row[task] = v
                cache[g] = row
            np.maximum(best, row, out=best)
        return float(best.sum())

    current = total(groups)
    while True:
        best_score, best_groups = current + TOL if np.isfinite(current) else -np.inf, None
        for trial in _moves(groups, t, k, overlap):
            score = total(trial)
            if score > best_score:
                best_score, best_groups = score, trial
        if best_groups is None:
            return sorted(set(groups))
        current, groups = best_score, best_groups


def _moves(groups: list[tuple[int, ...]], t: int, k: int, overlap: bool) -> list[list[tuple[int, ...]]]:
    """Neighbouring selections that keep every task covered and at most ``k`` groups.

    Both modes: move a task to another group (or, budget left, to a new group of its own), swap two
    tasks of different groups, merge two groups. With overlap also: add a helper task to a group,
    drop a task that another group still covers, add a new pair group (budget left).
    """
    out: list[list[tuple[int, ...]]] = []
    n = len(groups)

    def put(sel: list[tuple[int, ...]]) -> None:
        sel = [g for g in sel if g]
        if len(set(sel)) == len(sel) and len(sel) <= k:
            out.append(sel)

    def with_(i: int, g: tuple[int, ...], rest: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
        return [*rest[:i], tuple(sorted(g)), *rest[i + 1 :]]

    for i, g in enumerate(groups):
        for u in g:
            stripped = with_(i, tuple(x for x in g if x != u), groups)
            for j, h in enumerate(groups):
                if j != i and u not in h:
                    put(with_(j, (*h, u), stripped))  # move u from group i to group j
            if n < k and len(g) > 1:
                put([*stripped, (u,)])
            if overlap and len(g) > 1 and any(u in h for j, h in enumerate(groups) if j != i):
                put(stripped)  # drop u from group i: another group still trains it
        if overlap:
            for u in range(t):
                if u not in g:
                    put(with_(i, (*g, u), groups))  # u becomes a helper of group i
    for i in range(n):
        for j in range(i + 1, n):
            gi, gj = groups[i], groups[j]
            for u in gi:
                for v in gj:
                    if v not in gi and u not in gj:  # swap u and v
                        swapped = with_(i, (*(x for x in gi if x != u), v), groups)
                        put(with_(j, (*(x for x in gj if x != v), u), swapped))
    for i in range(n):
        for j in range(i + 1, n):
            merged = tuple(sorted(set(groups[i]) | set(groups[j])))
            put([*(g for m, g in enumerate(groups) if m not in (i, j)), merged])
    if overlap and n < k:
        present = set(groups)
        out.extend([*groups, (u, v)] for u in range(t) for v in range(u + 1, t) if (u, v) not in present)
    return out


def _tuple(mask: int) -> tuple[int, ...]:
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


def multistart(
    affinity: np.ndarray, k: int, overlap: bool, singleton: str = "zero", restarts: int = 8, seed: int = 0
) -> list[tuple[int, ...]]:
    """:func:`greedy`, then local search from ``restarts`` random partitions into ``min(k, T)`` groups
    (a fixed seed: deterministic); the best selection found."""
    t = affinity.shape[0]
    best = greedy(affinity, k, overlap, singleton)
    best_score = objective(affinity, best, singleton)[0]
    rng = np.random.default_rng(seed)
    m = min(k, t)
    for _ in range(restarts):
        labels = np.concatenate([np.arange(m), rng.integers(0, m, size=t - m)])
        rng.shuffle(labels)
        start = [tuple(int(i) for i in np.flatnonzero(labels == c)) for c in range(m)]
        found = local_search(affinity, start, k, overlap, singleton)
        score = objective(affinity, found, singleton)[0]
        if score > best_score + TOL:
            best, best_score = found, score
    return best
