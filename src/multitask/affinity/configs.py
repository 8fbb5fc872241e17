"""Turn a task grouping into networks to train: one ``branched`` tree, or one network per group.

Standley et al. (ICML 2020) and Fifty et al. (TAG, NeurIPS 2021) train *one separate network per
selected group*; a task may be trained in several of them (a helper task) and is *served* (predicted
at test time) by the one where it scores best. Vandenhende et al. (BMVC 2020) instead share the first
blocks and branch: a tree, where each task sits in exactly one branch.

:func:`to_branched_config` keeps whatever was selected:

* a partition (no helper) becomes one ``branched`` model: ``shared_stages`` blocks shared by all tasks,
  then one branch per group (``shared_stages=0``: separate networks inside one model);
* with ``separate=True`` (and ``shared_stages=0``) a partition, too, becomes one network per group;
* an overlapping selection becomes one network per group (``helpers="keep"``, needs
  ``shared_stages=0``: a tree cannot hold a task twice), each listing the tasks it trains and the
  tasks it serves, so the score of the result is the selection's score;
* or, with ``helpers="partition"``, the best *non-overlapping* selection with the same budget, singleton
  rule and affinity as one tree, and both scores reported (what dropping the helpers costs).

:func:`network_configs` turns the result into training configs the trainer runs as they are (one per
network, each on its own tasks through ``data.tasks``), and :func:`served_results` reads each task's
metrics from the network that serves it, for a comparison with hard sharing and single-task networks.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from multitask.affinity.grouping import Grouping, _check_groups, _indices, select_groups

__all__ = ["BranchedConfig", "Network", "network_configs", "served_results", "to_branched_config"]

HELPERS = ("keep", "partition")


@dataclass(frozen=True)
class Network:
    """One network to train.

    Attributes:
        tasks: the tasks it trains (global indices, sorted), helpers included.
        serves: the tasks whose predictions are taken from it (a subset of ``tasks``).
        branches: the ``branches`` argument of a ``branched`` model over ``tasks`` (indices local to
            ``tasks``; ``[[all]]`` for a network shared by all of its tasks).
    """

    tasks: tuple[int, ...]
    serves: tuple[int, ...]
    branches: list[list[list[int]]]

    @property
    def helpers(self) -> tuple[int, ...]:
        """Tasks trained here only to help the served ones."""
        return tuple(t for t in self.tasks if t not in self.serves)


@dataclass(frozen=True)
class BranchedConfig:
    """The networks for a grouping, and its score.

    Attributes:
        networks: one :class:`Network` (a tree over all tasks) or one per group.
        score: the score of what is trained (``Σ_t s_t`` of each task in its serving group; ``nan``
            when the grouping carried no affinity).
        selection_score: the score of the selection passed in (differs from ``score`` only with
            ``helpers="partition"``).
        task_names: names of the tasks when known.
    """

    networks: tuple[Network, ...]
    score: float
    selection_score: float
    task_names: tuple[str, ...] | None = None

    @property
    def branches(self) -> list[list[list[int]]]:
        """The ``branches`` argument of one ``branched`` model over all tasks (a tree only)."""
        if len(self.networks) != 1:
            raise ValueError(
                f"this config has {len(self.networks)} separate networks (helper tasks are trained in "
                "several); build one model per entry of .networks, or ask for helpers='partition'"
            )
        return self.networks[0].branches

    def named(self) -> list[dict[str, Any]]:
        """``[{"tasks": [...], "serves": [...], "branches": ...}]`` with task names (needs names)."""
        if self.task_names is None:
            raise ValueError("this config was built without task names")
        names = self.task_names
        return [
            {
                "tasks": [names[t] for t in n.tasks],
                "serves": [names[t] for t in n.serves],
                "branches": [[[names[n.tasks[i]] for i in g] for g in part] for part in n.branches],
            }
            for n in self.networks
        ]


def to_branched_config(
    groups: Grouping | Sequence[Sequence[int]],
    num_stages: int,
    *,
    shared_stages: int = 1,
    helpers: str = "keep",
    separate: bool = False,
) -> BranchedConfig:
    """Networks for a grouping (see the module docstring).

    Args:
        groups: a :class:`Grouping` from :func:`select_groups`, or a plain list of groups of task
            indices (a partition, or overlapping groups where each task is served by the first group
            that holds it).
        num_stages: backbone blocks described by the tree (``branched`` repeats the last partition for
            later blocks, so it may be below the backbone's block count); ≥ 1.
        shared_stages: leading blocks shared by all tasks, ``0 ≤ shared_stages < num_stages``
            (0: the groups are separate networks from the input on).
        helpers: ``"keep"`` (default: every selected group's tasks are trained; with overlap this
            gives one network per group and needs ``shared_stages=0``) or ``"partition"`` (one tree
            from the best non-overlapping selection of at most as many groups; needs a
            :class:`Grouping` that carries its affinity).
        separate: one network per group also for a partition (needs ``shared_stages=0``): separate
            runs, as TAG and Standley et al. train them, instead of one ``branched`` model whose
            branches start at the input (the same networks, trained in one run with one epoch chosen
            for all tasks).
    """
    if helpers not in HELPERS:
        raise ValueError(f"to_branched_config: helpers must be one of {HELPERS}, got {helpers!r}")
    for field, value, low in (("num_stages", num_stages, 1), ("shared_stages", shared_stages, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"to_branched_config: {field} must be an int >= {low}, got {value!r}")
    if separate and shared_stages:
        raise ValueError(
            f"to_branched_config: separate=True trains each group alone, so shared_stages must be 0, "
            f"got {shared_stages}"
        )
    if shared_stages >= num_stages:
        raise ValueError(
            f"to_branched_config: shared_stages ({shared_stages}) must be below num_stages ({num_stages}) "
            "so that the groups get at least one stage"
        )
    grouping = groups if isinstance(groups, Grouping) else _plain_grouping(groups)
    t = len(grouping.assignment)
    selection_score, task_names = grouping.score, grouping.task_names  # a re-search below has no names
    if grouping.overlaps and helpers == "partition":
        if grouping.affinity is None:
            raise ValueError(
                "to_branched_config: helpers='partition' re-searches the groups, so it needs the Grouping "
                "returned by select_groups (it carries the affinity matrix)"
            )
        budget = grouping.budget if grouping.budget is not None else len(grouping.groups)
        grouping = select_groups(
            grouping.affinity,
            budget,
            method=grouping.method if grouping.method != "given" else "auto",
            overlap=False,
            singleton=grouping.singleton,
        )
    if not grouping.overlaps and not separate:
        partition = sorted(list(g) for g in grouping.groups)
        shared = [[list(range(t))] for _ in range(shared_stages)]
        tree = shared + [[list(g) for g in partition] for _ in range(num_stages - shared_stages)]
        nets: tuple[Network, ...] = (Network(tuple(range(t)), tuple(range(t)), tree),)
    else:
        if shared_stages:
            raise ValueError(
                f"to_branched_config: groups {[list(g) for g in grouping.groups]} overlap (helper tasks), "
                "which a branched tree cannot hold; pass shared_stages=0 for one separate network per "
                "group (as TAG and Standley et al. train them), or helpers='partition' for the best tree"
            )
        served = grouping.served
        nets = tuple(
            Network(tuple(g), served[i], [[list(range(len(g)))]]) for i, g in enumerate(grouping.groups)
        )
    return BranchedConfig(nets, grouping.score, selection_score, task_names)


def _plain_grouping(groups: Sequence[Sequence[int]]) -> Grouping:
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or not groups:
        raise TypeError("to_branched_config: groups must be a Grouping or a non-empty list of groups")
    t = 1 + max((i for g in groups for i in _indices(g, "to_branched_config")), default=-1)
    normalized = _check_groups(groups, t, "to_branched_config")
    assignment = tuple(next(k for k, g in enumerate(normalized) if task in g) for task in range(t))
    nan = float("nan")
    return Grouping(tuple(normalized), nan, assignment, tuple(nan for _ in range(t)), "given")


def network_configs(config: BranchedConfig, base: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One training config per network of ``config``, from the run config ``base`` (a dict as
    :meth:`multitask.train.config.Config.from_dict` takes, e.g. ``Config.to_dict()``).

    Each is ``base`` with ``data.tasks`` set to the network's tasks (helpers included, by name) and
    ``train.out_dir`` set to ``<base out_dir>/network<i>``. A network shared by all of its tasks keeps
    ``base``'s model (TAG and Standley et al. train each group as one fully shared network); a tree
    becomes ``model.name: branched`` with ``branches`` (by task name) added to ``base``'s model kwargs.
    ``config`` must carry task names (a :class:`~multitask.affinity.Grouping` from a named affinity).
    """
    names = config.task_names
    if names is None:
        raise ValueError(
            "network_configs: this config was built without task names; compute the grouping from a "
            "TaskAffinity (it carries the names) so that each network's data.tasks can be written"
        )
    if not isinstance(base, Mapping):
        raise TypeError(f"network_configs: base must be a config dict, got {type(base).__name__}")
    out = []
    for i, (net, named) in enumerate(zip(config.networks, config.named())):
        cfg = copy.deepcopy(dict(base))
        data = dict(cfg.get("data") or {})
        if data.get("tasks") is not None and sorted(data["tasks"]) != sorted(names):
            raise ValueError(
                f"network_configs: base data.tasks {data['tasks']} are not the grouping's tasks {list(names)}"
            )
        data["tasks"] = named["tasks"]
        cfg["data"] = data
        if net.branches != [[list(range(len(net.tasks)))]]:  # a tree: the branched model
            model = dict(cfg.get("model") or {})
            model["name"] = "branched"
            model["kwargs"] = {**dict(model.get("kwargs") or {}), "branches": named["branches"]}
            cfg["model"] = model
        train = dict(cfg.get("train") or {})
        train["out_dir"] = f"{train.get('out_dir', 'runs/default')}/network{i}"
        cfg["train"] = train
        out.append(cfg)
    return out


def served_results(config: BranchedConfig, results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each task's results from the network that serves it.

    Args:
        config: the networks (from :func:`to_branched_config`, with task names).
        results: ``results[i]`` is network ``i``'s result (``Trainer.fit()`` or its ``result.json``),
            trained on that network's tasks.

    Returns:
        ``{"val": {task: metrics}, "test": {task: metrics}, "higher_is_better": {task: ...}, "params": Σ}``
        over every task in the order of ``config.task_names``: what the selection is worth at serving
        time (``params``: all networks together, helpers' heads included).
    """
    names = config.task_names
    if names is None:
        raise ValueError("served_results: this config was built without task names")
    if len(results) != len(config.networks):
        raise ValueError(
            f"served_results: {len(config.networks)} networks but {len(results)} results were given"
        )
    merged: dict[str, Any] = {"val": {}, "test": {}, "higher_is_better": {}}
    for i, (net, res) in enumerate(zip(config.networks, results)):
        trained = [names[t] for t in net.tasks]
        if list(res.get("tasks", trained)) != trained:
            raise ValueError(
                f"served_results: result {i} was trained on {list(res['tasks'])}, network {i} on {trained}"
            )
        for t in net.serves:
            for key in merged:
                merged[key][names[t]] = res[key][names[t]]
    for key in ("val", "test", "higher_is_better"):
        merged[key] = {n: merged[key][n] for n in names}
    merged["params"] = sum(int(r["params"]) for r in results)
    return merged
