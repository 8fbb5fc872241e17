"""Choose task groups from a pairwise affinity matrix, and turn them into a branched-network config.

Standley, Zamir, Chen, Guibas, Malik, Savarese. Which Tasks Should Be Learned Together in Multi-task
Learning? ICML 2020 (network selection under a budget; the "higher-order approximation" scores a group
from pairwise results). Fifty, Amid, Zhao, Yu, Anil, Finn. Efficiently Identifying Task Groupings for
Multi-Task Learning. NeurIPS 2021 (TAG: the same selection driven by lookahead affinities).

With ``A[i, t]`` the affinity of task ``i`` onto task ``t`` (e.g. ``Ẑ_{i→t}``; the diagonal is
ignored), task ``t`` in group ``g`` scores the mean affinity it receives from its group-mates,

    s_t(g) = 1/(|g| − 1) Σ_{i ∈ g, i ≠ t} A[i, t]          (s_t({t}) = 0: a task alone gains nothing)

Groups may overlap (a task can be trained in several networks as a helper); each task is *served* by
the chosen group in which it scores highest, and a selection of at most ``k`` groups covering every
task is worth

    score(𝒢) = Σ_t max_{g ∈ 𝒢, t ∈ g} s_t(g).

:func:`select_groups` maximises it. ``method="exact"`` is a provably optimal search for small ``T``:
every selection is scored by the partition of the tasks into the sets its groups serve, so the optimum
is ``max over partitions P_1..P_m (m ≤ k) of Σ_j best(P_j)``, ``best(P) = max_{g ⊇ P} Σ_{t ∈ P} s_t(g)``,
found by one masked product over (subset, group) pairs and a subset dynamic programme (``O(k 3^T)``;
instead of the papers' branch-and-bound over group combinations). ``method="greedy"`` (agglomerative
merging, then helper-task additions) serves large ``T``. Budget ``k``: at most ``k`` groups (``k > T``
is the same as ``k = T``); fewer are returned when more would not raise the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multitask.affinity import _search
from multitask.affinity._matrix import TaskAffinity, check_affinity_matrix

__all__ = ["Grouping", "group_score", "select_groups", "to_branched_config"]

METHODS = ("auto", "exact", "greedy")
AUTO_EXACT_MAX_TASKS = 10
EXACT_MAX_TASKS = 14


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
    """

    groups: tuple[tuple[int, ...], ...]
    score: float
    assignment: tuple[int, ...]
    task_scores: tuple[float, ...]
    method: str
    task_names: tuple[str, ...] | None = None

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
    affinity: TaskAffinity | Any, k: int, *, method: str = "auto", overlap: bool = True
) -> Grouping:
    """At most ``k`` task groups maximising ``Σ_t max_{g ∋ t} s_t(g)`` (see the module docstring).

    Args:
        affinity: ``[T, T]`` matrix (numpy, torch or nested lists) or a :class:`TaskAffinity`;
            ``affinity[i, t]`` = affinity of task ``i`` onto task ``t``.
        k: the budget, the most groups (networks) to use; an int ≥ 1.
        method: ``"exact"`` (``T`` ≤ 14), ``"greedy"``, or ``"auto"`` (exact for ``T`` ≤ 10).
        overlap: allow a task in several groups (as in both papers); ``False`` searches partitions only.
    """
    names = affinity.task_names if isinstance(affinity, TaskAffinity) else None
    a = check_affinity_matrix(affinity, "affinity")
    t = a.shape[0]
    k = _check_budget(k)
    if method not in METHODS:
        raise ValueError(f"select_groups: method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        method = "exact" if t <= AUTO_EXACT_MAX_TASKS else "greedy"
    if method == "exact":
        if t > EXACT_MAX_TASKS:
            raise ValueError(
                f"select_groups: exact search is limited to T <= {EXACT_MAX_TASKS} tasks (got {t}); "
                "use method='greedy'"
            )
        groups = _search.exact(a, k, overlap)
    else:
        groups = _search.greedy(a, k, overlap)
    return _result(a, groups, method, names)


def group_score(affinity: TaskAffinity | Any, groups: Sequence[Sequence[int]]) -> float:
    """``Σ_t max_{g ∋ t} s_t(g)`` of any selection of groups covering every task."""
    a = check_affinity_matrix(affinity, "affinity")
    normalized = _check_groups(groups, a.shape[0], "group_score")
    return _search.objective(a, normalized)[0]


def to_branched_config(
    groups: Grouping | Sequence[Sequence[int]], num_stages: int, *, shared_stages: int = 1
) -> list[list[list[int]]]:
    """The ``branches`` argument of the ``branched`` architecture for a grouping.

    The first ``shared_stages`` backbone blocks are shared by all tasks, the remaining
    ``num_stages − shared_stages`` have one branch per group: ``[[[0..T-1]], ..., P, ..., P]`` where each
    entry is a partition of the tasks. Blocks after the last entry repeat it in ``branched``, so
    ``num_stages`` may be less than the backbone's block count (it may not be more).

    A tree has each task in one branch: with a :class:`Grouping` the partition is
    :attr:`Grouping.served` (each task in the group that serves it; helper memberships are dropped);
    a plain sequence of groups must already be a partition of ``0..T-1``.
    """
    if isinstance(groups, Grouping):
        partition = [list(g) for g in groups.served if g]
        t = len(groups.assignment)
    else:
        if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or not groups:
            raise TypeError("to_branched_config: groups must be a Grouping or a non-empty list of groups")
        t = 1 + max((i for g in groups for i in _indices(g, "to_branched_config")), default=-1)
        normalized = _check_groups(groups, t, "to_branched_config")
        flat = sorted(i for g in normalized for i in g)
        if flat != list(range(t)):
            raise ValueError(
                f"to_branched_config: groups {[list(g) for g in normalized]} overlap; a branched tree puts "
                "each task in one branch: pass the Grouping from select_groups (tasks go to their serving "
                "group) or a partition"
            )
        partition = [list(g) for g in normalized]
    for field, value, low in (("num_stages", num_stages, 2), ("shared_stages", shared_stages, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"to_branched_config: {field} must be an int >= {low}, got {value!r}")
    if shared_stages >= num_stages:
        raise ValueError(
            f"to_branched_config: shared_stages ({shared_stages}) must be below num_stages ({num_stages}) "
            "so that the groups get at least one stage"
        )
    shared = [[list(range(t))] for _ in range(shared_stages)]
    branched = [[list(g) for g in sorted(partition)] for _ in range(num_stages - shared_stages)]
    return shared + branched


# ---- helpers ---------------------------------------------------------------------------------
def _result(a: np.ndarray, groups: list[tuple[int, ...]], method: str, names: Any) -> Grouping:
    score, serve, best = _search.objective(a, groups)
    used = sorted(set(serve))  # a group serving no task (lost every tie) adds nothing
    groups = [groups[i] for i in used]
    assignment = tuple(used.index(s) for s in serve)
    return Grouping(tuple(groups), score, assignment, tuple(best), method, names)


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
