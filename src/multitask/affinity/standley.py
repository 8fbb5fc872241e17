"""Network selection under a compute budget (Standley et al., ICML 2020).

Standley, Zamir, Chen, Guibas, Malik, Savarese. Which Tasks Should Be Learned Together in Multi-task
Learning? ICML 2020 (code: ``tstandley/taskgrouping``, ``network_selection/main.cpp``).

Candidates are networks, each trained on a group of tasks ``g`` and measured on each of its tasks:
``L_t(g)``, lower is better (a loss or error). A network costs ``c(g)`` (inference time in units of one
full network; a single-task network costs a set fraction, ``single_task_cost``: 0.5 by default, the
half-size single-task networks of ``main.cpp``). A selection
``𝒩`` of networks with ``Σ_{g ∈ 𝒩} c(g) ≤ budget`` that solves every task is worth

    L(𝒩) = Σ_t min_{g ∈ 𝒩, t ∈ g} L_t(g)

(each task is read from the network best at it; the others in that network are helpers), and
:func:`select_networks` returns the minimiser by branch and bound: candidates in a fixed order, each
included or not, a branch cut when its cost exceeds the budget or when the optimistic bound
``Σ_t min(best so far_t, min over the remaining candidates ∋ t of L_t)`` cannot beat the best
complete selection found.

Without training every group, :func:`higher_order_approximation` estimates every group of three or
more from the pairs, ``L_t(g) ≈ mean_{u ∈ g, u ≠ t} L_t({t, u})`` (the paper's "higher-order
approximation"; like ``main.cpp`` it replaces measured higher-order results unless told to keep
them), and :func:`performance_from_runs` reads ``L_t(g)`` from finished runs (each run's
``result.json`` names the tasks it trained). :func:`pairwise_matrix` turns pair results into the
affinity convention of :func:`~multitask.affinity.select_groups` (``A[i, t] = L_t({t}) − L_t({i, t})``).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "NetworkSelection",
    "higher_order_approximation",
    "pairwise_matrix",
    "performance_from_runs",
    "select_networks",
]

Performance = Mapping[tuple[str, ...], Mapping[str, float]]


@dataclass(frozen=True)
class NetworkSelection:
    """The chosen networks.

    Attributes:
        networks: the task groups to train, as tuples of task names.
        loss: ``Σ_t min_{g ∋ t} L_t(g)``.
        cost: total cost of the networks.
        assignment: ``{task: index in networks}`` of the network each task is read from.
        task_losses: ``{task: L_t}`` in its serving network.
    """

    networks: tuple[tuple[str, ...], ...]
    loss: float
    cost: float
    assignment: dict[str, int]
    task_losses: dict[str, float]


def select_networks(
    performance: Performance,
    budget: float,
    *,
    costs: Mapping[tuple[str, ...], float] | Callable[[tuple[str, ...]], float] | None = None,
    single_task_cost: float = 0.5,
) -> NetworkSelection:
    """The cheapest-loss set of networks within ``budget`` (exact branch and bound).

    Args:
        performance: ``{group: {task: L_t(group)}}`` for every candidate network (groups as tuples of
            task names; every task of a group needs a finite value).
        budget: the most total cost allowed (> 0).
        costs: a network's cost, as a mapping or a function of the group; default 1 per multi-task
            network and ``single_task_cost`` for a single-task one.
        single_task_cost: default cost of a single-task network (0.5 as in ``main.cpp``).

    Raises:
        ValueError: malformed performance, or no selection within the budget solves every task.
    """
    cands, tasks = _candidates(performance)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise ValueError(f"select_networks: budget must be a positive number, got {budget!r}")
    cost = np.array([_cost(g, costs, single_task_cost) for g in cands])
    t = len(tasks)
    loss = np.full((len(cands), t), np.inf)
    for n, g in enumerate(cands):
        for task in g:
            loss[n, tasks.index(task)] = performance[g][task]
    # cheap strong networks first: good incumbents early tighten the bound
    order = sorted(range(len(cands)), key=lambda n: (float(np.min(loss[n])), n))
    loss, cost = loss[order], cost[order]
    cands = [cands[n] for n in order]
    suffix = np.full((len(cands) + 1, t), np.inf)  # best value of each task among candidates n..end
    for n in range(len(cands) - 1, -1, -1):
        suffix[n] = np.minimum(suffix[n + 1], loss[n])
    best: dict[str, Any] = {"value": math.inf, "chosen": None}

    def search(n: int, spent: float, current: np.ndarray, chosen: list[int]) -> None:
        bound = float(np.minimum(current, suffix[n]).sum())
        if bound >= best["value"] - 1e-12:
            return
        if n == len(cands):  # bound == current total here, finite: every task solved
            best["value"], best["chosen"] = bound, list(chosen)
            return
        if spent + cost[n] <= budget + 1e-12:
            chosen.append(n)
            search(n + 1, spent + cost[n], np.minimum(current, loss[n]), chosen)
            chosen.pop()
        search(n + 1, spent, current, chosen)

    search(0, 0.0, np.full(t, np.inf), [])
    if best["chosen"] is None:
        raise ValueError(
            f"select_networks: no set of networks with total cost <= {budget} solves every task {tasks}"
        )
    return _selection(best["chosen"], cands, loss, cost, tasks)


def _selection(
    chosen: list[int], cands: list, loss: np.ndarray, cost: np.ndarray, tasks: list[str]
) -> NetworkSelection:
    serve = {}
    for j, task in enumerate(tasks):
        vals = [loss[n, j] for n in chosen]
        serve[task] = int(np.argmin(vals))
    used = sorted(set(serve.values()))  # a network serving no task adds cost only
    nets = tuple(cands[chosen[u]] for u in used)
    assignment = {task: used.index(k) for task, k in serve.items()}
    task_losses = {task: float(loss[chosen[used[assignment[task]]], j]) for j, task in enumerate(tasks)}
    total_cost = float(sum(cost[chosen[u]] for u in used))
    return NetworkSelection(nets, float(sum(task_losses.values())), total_cost, assignment, task_losses)


def higher_order_approximation(
    performance: Performance, max_size: int | None = None, *, keep_measured: bool = False
) -> dict[tuple[str, ...], dict[str, float]]:
    """The single-task and pair results of ``performance`` plus every group of 3..``max_size`` tasks
    estimated from the pairs, ``L_t(g) = mean_{u ∈ g, u ≠ t} L_t({t, u})`` (every pair must be present);
    ``keep_measured`` keeps measured groups of 3+ tasks instead of their estimate."""
    cands, tasks = _candidates(performance)
    out = {g: dict(performance[g]) for g in cands if len(g) <= 2 or keep_measured}
    pairs = {frozenset(g): g for g in cands if len(g) == 2}
    top = len(tasks) if max_size is None else int(max_size)
    for size in range(3, top + 1):
        for group in itertools.combinations(tasks, size):
            if group in out:
                continue
            est = {}
            for t in group:
                vals = []
                for u in group:
                    if u == t:
                        continue
                    pair = pairs.get(frozenset((t, u)))
                    if pair is None:
                        raise ValueError(f"higher_order_approximation: no result for the pair ({t!r}, {u!r})")
                    vals.append(performance[pair][t])
                est[t] = float(np.mean(vals))
            out[group] = est
    return out


def pairwise_matrix(performance: Performance, tasks: Sequence[str] | None = None) -> np.ndarray:
    """``A[i, t] = L_t({t}) − L_t({i, t})``: how much pairing with task ``i`` lowered task ``t``'s loss
    (the affinity of ``i`` onto ``t``; diagonal 0). Needs every single-task and pair result."""
    cands, found = _candidates(performance)
    names = list(found if tasks is None else tasks)
    index = {frozenset(g): g for g in cands}
    a = np.zeros((len(names), len(names)))
    for j, t in enumerate(names):
        single = index.get(frozenset((t,)))
        if single is None:
            raise ValueError(f"pairwise_matrix: no single-task result for {t!r}")
        for i, u in enumerate(names):
            if i != j:
                pair = index.get(frozenset((t, u)))
                if pair is None:
                    raise ValueError(f"pairwise_matrix: no result for the pair ({u!r}, {t!r})")
                a[i, j] = performance[single][t] - performance[pair][t]
    return a


def performance_from_runs(
    paths: Sequence[str | Path], metric: str, *, split: str = "test"
) -> dict[tuple[str, ...], dict[str, float]]:
    """``{group: {task: L_t(group)}}`` from finished runs (``result.json`` files or the run folders).

    The group is the run's ``tasks``; the value is ``split``'s ``metric`` of each task, negated when
    the run marks it higher-is-better (so lower is better throughout), averaged over runs of the same
    group (e.g. seeds).
    """
    sums: dict[tuple[str, ...], dict[str, list[float]]] = {}
    for raw in paths:
        path = Path(raw)
        path = path / "result.json" if path.is_dir() else path
        if not path.is_file():
            raise ValueError(f"performance_from_runs: {path} does not exist")
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            group = tuple(str(t) for t in result["tasks"])
            values = result[split]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"performance_from_runs: {path} is not a run result ({err})") from err
        higher = result.get("higher_is_better", {})
        entry = sums.setdefault(group, {t: [] for t in group})
        for t in group:
            try:
                v = float(values[t][metric])
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    f"performance_from_runs: {path}: no {split} {metric!r} for task {t!r}"
                ) from None
            if not math.isfinite(v):
                raise ValueError(f"performance_from_runs: {path}: {split} {metric!r} of {t!r} is {v}")
            entry[t].append(-v if higher.get(t, {}).get(metric, False) else v)
    if not sums:
        raise ValueError("performance_from_runs: no runs given")
    return {g: {t: float(np.mean(v)) for t, v in d.items()} for g, d in sums.items()}


# ---- helpers ---------------------------------------------------------------------------------
def _candidates(performance: Performance) -> tuple[list[tuple[str, ...]], list[str]]:
    if not isinstance(performance, Mapping) or not performance:
        raise ValueError("network selection: performance must be a non-empty {group: {task: value}} mapping")
    tasks: list[str] = []
    cands = []
    for g, vals in performance.items():
        if isinstance(g, str) or not isinstance(g, tuple) or not g or len(set(g)) != len(g):
            raise ValueError(
                f"network selection: groups must be non-empty tuples of distinct task names, got {g!r}"
            )
        if not isinstance(vals, Mapping):
            raise ValueError(f"network selection: performance[{g!r}] must be a {{task: value}} mapping")
        for t in g:
            v = vals.get(t)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v):
                raise ValueError(
                    f"network selection: performance[{g!r}][{t!r}] must be a finite number, got {v!r}"
                )
            if t not in tasks:
                tasks.append(t)
        cands.append(g)
    return cands, tasks


def _cost(
    group: tuple[str, ...],
    costs: Mapping[tuple[str, ...], float] | Callable[[tuple[str, ...]], float] | None,
    single: float,
) -> float:
    if costs is None:
        value: Any = single if len(group) == 1 else 1.0
    elif callable(costs):
        value = costs(group)
    else:
        if group not in costs:
            raise ValueError(f"select_networks: no cost given for network {group!r}")
        value = costs[group]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value >= 0
        or not math.isfinite(value)
    ):
        raise ValueError(
            f"select_networks: the cost of network {group!r} must be a finite number >= 0, got {value!r}"
        )
    return float(value)
