"""Choose task groups from a pairwise affinity matrix, and turn them into a branched-network config.

Standley, Zamir, Chen, Guibas, Malik, Savarese. Which Tasks Should Be Learned Together in Multi-task
Learning? ICML 2020 (network selection under a budget; the "higher-order approximation" scores a group
from pairwise results). Fifty, Amid, Zhao, Yu, Anil, Finn. Efficiently Identifying Task Groupings for
Multi-Task Learning. NeurIPS 2021 (TAG: the same selection driven by lookahead affinities).

With ``A[i, t]`` the affinity of task ``i`` onto task ``t`` (e.g. ``Ẑ_{i→t}``; the diagonal is
ignored), task ``t`` in group ``g`` scores the mean affinity it receives from its group-mates,

    s_t(g) = 1/(|g| − 1) Σ_{i ∈ g, i ≠ t} A[i, t]

A task alone in its group scores ``s_t({t}) = 0`` with ``singleton="zero"`` (the default: it gains
nothing, so a task that only conflicts may be trained alone) or ``−∞`` with ``singleton="tag"``, the rule
of TAG's network-selection notebook (a singleton group never serves a task; it differs from ``"zero"``
when a task receives only negative affinities, e.g. on TAG's CelebA matrix at k = 2 and 3).

Groups may overlap (a task can be trained in several networks as a helper); each task is *served* by
the chosen group in which it scores highest, and a selection of at most ``k`` groups covering every
task is worth

    score(𝒢) = Σ_t max_{g ∈ 𝒢, t ∈ g} s_t(g).

:func:`select_groups` maximises it. ``method="exact"`` is a provably optimal search for small ``T``:
every selection is scored by the partition of the tasks into the sets its groups serve, so the optimum
is ``max over partitions P_1..P_m (m ≤ k) of Σ_j best(P_j)``, ``best(P) = max_{g ⊇ P} Σ_{t ∈ P} s_t(g)``,
found by dynamic programmes over the ``3^T`` (set, subset) pairs, vectorised (``O(k 3^T)``; instead of
the papers' enumeration of group combinations). ``method="greedy"`` (agglomerative merging, then
best-improvement local search: move, swap, merge, add or drop a helper; repeated from random partitions)
serves large ``T``; ``"auto"``
is exact up to 14 tasks. Budget ``k``: at most ``k`` groups (``k > T``
is the same as ``k = T``); fewer are returned when more would not raise the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from multitask.affinity import _search
from multitask.affinity._matrix import TaskAffinity, check_affinity_matrix

__all__ = ["Grouping", "group_score", "select_groups"]

METHODS = ("auto", "exact", "greedy")
AUTO_EXACT_MAX_TASKS = 14
EXACT_MAX_TASKS = 15


@dataclass(frozen=True)
class Grouping:
    """The selected groups.

    Attributes:
        groups: sorted tuples of task indices, in sorted order.
        score: ``Σ_t max_{g ∋ t} s_t(g)``.
        assignment: ``assignment[t]`` is the index in ``groups`` of the group serving task ``t``.
        task_scores: ``s_t`` of each task in its serving group.
        method: ``"exact"`` or ``"greedy"``.
        task_names: task names when the affinity carried them, else ``None``.
        singleton: the singleton rule the score used (``"zero"`` or ``"tag"``).
        budget: the ``k`` of the search (``None`` for a grouping built by hand).
        affinity: the ``[T, T]`` matrix searched (lets :func:`~multitask.affinity.to_branched_config`
            find the best tree when the groups overlap).
    """

    groups: tuple[tuple[int, ...], ...]
    score: float
    assignment: tuple[int, ...]
    task_scores: tuple[float, ...]
    method: str
    task_names: tuple[str, ...] | None = None
    singleton: str = "zero"
    budget: int | None = None
    affinity: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def overlaps(self) -> bool:
        """Whether some task is in more than one group (a helper task)."""
        return sum(len(g) for g in self.groups) > len(self.assignment)

    @property
    def served(self) -> tuple[tuple[int, ...], ...]:
        """The partition of the tasks by serving group (one entry per group, in ``groups`` order)."""
        return tuple(
            tuple(t for t, a in enumerate(self.assignment) if a == k) for k in range(len(self.groups))
        )

    def named_groups(self) -> list[list[str]]:
        """The groups with task names (needs ``task_names``)."""
        if self.task_names is None:
            raise ValueError("this grouping was computed from a bare matrix: it has no task names")
        return [[self.task_names[t] for t in g] for g in self.groups]


def select_groups(
    affinity: TaskAffinity | Any,
    k: int,
    *,
    method: str = "auto",
    overlap: bool = True,
    singleton: str = "zero",
    restarts: int = 16,
) -> Grouping:
    """At most ``k`` task groups maximising ``Σ_t max_{g ∋ t} s_t(g)`` (see the module docstring).

    Args:
        affinity: ``[T, T]`` matrix (numpy, torch or nested lists) or a :class:`TaskAffinity`;
            ``affinity[i, t]`` = affinity of task ``i`` onto task ``t``.
        k: the budget, the most groups (networks) to use; an int ≥ 1.
        method: ``"exact"`` (``T`` ≤ 15), ``"greedy"``, or ``"auto"`` (exact for ``T`` ≤ 14).
        overlap: allow a task in several groups (as in both papers); ``False`` searches partitions only.
        singleton: score of a task alone in a group, ``"zero"`` (default) or ``"tag"`` (``−∞``, TAG's
            rule: every task is served by a group of two or more; needs ``T`` ≥ 2).
        restarts: greedy only: local searches from this many random partitions (fixed seed) on top of
            the one from the agglomerative start; the best is kept.
    """
    names = affinity.task_names if isinstance(affinity, TaskAffinity) else None
    a = check_affinity_matrix(affinity, "affinity")
    t = a.shape[0]
    k = _check_budget(k)
    if method not in METHODS:
        raise ValueError(f"select_groups: method must be one of {METHODS}, got {method!r}")
    if singleton not in _search.SINGLETON_RULES:
        raise ValueError(
            f"select_groups: singleton must be one of {_search.SINGLETON_RULES}, got {singleton!r}"
        )
    if singleton == "tag" and t < 2:
        raise ValueError("select_groups: singleton='tag' scores a lone task -inf; it needs at least 2 tasks")
    if method == "auto":
        method = "exact" if t <= AUTO_EXACT_MAX_TASKS else "greedy"
    if method == "exact":
        if t > EXACT_MAX_TASKS:
            raise ValueError(
                f"select_groups: exact search is limited to T <= {EXACT_MAX_TASKS} tasks (got {t}); "
                "use method='greedy'"
            )
        groups = _search.exact(a, k, overlap, singleton)
    else:
        if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 0:
            raise ValueError(f"select_groups: restarts must be an int >= 0, got {restarts!r}")
        groups = _search.multistart(a, k, overlap, singleton, restarts)
    return _result(a, groups, method, names, singleton, k)


def group_score(
    affinity: TaskAffinity | Any, groups: Sequence[Sequence[int]], *, singleton: str = "zero"
) -> float:
    """``Σ_t max_{g ∋ t} s_t(g)`` of any selection of groups covering every task (``singleton`` as in
    :func:`select_groups`)."""
    a = check_affinity_matrix(affinity, "affinity")
    if singleton not in _search.SINGLETON_RULES:
        raise ValueError(
            f"group_score: singleton must be one of {_search.SINGLETON_RULES}, got {singleton!r}"
        )
    normalized = _check_groups(groups, a.shape[0], "group_score")
    return _search.objective(a, normalized, singleton)[0]


# ---- helpers ---------------------------------------------------------------------------------
def _result(
    a: np.ndarray, groups: list[tuple[int, ...]], method: str, names: Any, singleton: str, k: int
) -> Grouping:
    score, serve, best = _search.objective(a, groups, singleton)
    used = sorted(set(serve))  # a group serving no task (lost every tie) adds nothing
    groups = [groups[i] for i in used]
    assignment = tuple(used.index(s) for s in serve)
    return Grouping(tuple(groups), score, assignment, tuple(best), method, names, singleton, k, a.copy())


def _check_budget(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"select_groups: the budget k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"select_groups: the budget k must be >= 1 group, got {k}")
    return int(k)


def _indices(group: Any, where: str) -> list[int]:
    if isinstance(group, (str, bytes)) or not isinstance(group, Sequence) or len(group) == 0:
        raise ValueError(f"{where}: each group must be a non-empty list of task indices, got {group!r}")
    for i in group:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
            raise ValueError(f"{where}: task indices must be non-negative ints, got {i!r} in {list(group)}")
    return [int(i) for i in group]


def _check_groups(groups: Sequence[Sequence[int]], t: int, where: str) -> list[tuple[int, ...]]:
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or not groups:
        raise ValueError(f"{where}: groups must be a non-empty list of groups")
    out = []
    for g in groups:
        idx = _indices(g, where)
        if len(set(idx)) != len(idx):
            raise ValueError(f"{where}: group {list(g)} repeats a task")
        if max(idx) >= t:
            raise ValueError(f"{where}: task index {max(idx)} out of range for {t} tasks in group {list(g)}")
        out.append(tuple(sorted(idx)))
    missing = sorted(set(range(t)) - {i for g in out for i in g})
    if missing:
        raise ValueError(f"{where}: tasks {missing} are in no group; every task must be covered")
    return out
