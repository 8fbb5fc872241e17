"""The named benchmark suites (``multitask bench --suite NAME``), the grid they describe, and the
method entries of a grid (``"cagrad"``, ``"pmtl[preference_index=0]"`` or ``{"name", "kwargs", "label"}``).

:mod:`multitask.bench.runner` runs a :class:`Grid`; see it for the output layout.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

from multitask.methods import METHODS, list_methods
from multitask.methods.base import runs_in_parameters_grid

BASELINE = ("single_task", "ew")


@dataclass
class Grid:
    """A benchmark grid. ``base`` is a config dict (data/optim/train settings) shared by every run;
    ``architectures`` entries are model names or ``{"name": ..., "backbone": ..., "kwargs": {...}}``;
    ``methods`` entries are names, ``"name[key=value,...]"`` strings or
    ``{"name": ..., "kwargs": {...}, "label": ...}`` dicts (module docstring)."""

    base: dict[str, Any]
    architectures: list[Any]
    methods: list[Any]
    seeds: list[int] = field(default_factory=lambda: [0])
    method_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    mode: str = "parameters"
    baseline_backbone: str | None = None


# Pareto MTL spread over three of its five preference vectors, u = (1, 0), (1, 1)/√2, (0, 1)
PMTL_SPREAD = [
    {"name": "pmtl", "kwargs": {"preference_index": k, "num_preferences": 5}, "label": f"pmtl[{k}/5]"}
    for k in (0, 2, 4)
]

SUITES: dict[str, dict[str, Any]] = {
    "default": {
        "base": {
            "data": {"name": "multimnist", "batch_size": 128, "eval_batch_size": 1000},
            "model": {"backbone": "lenet"},
            "optim": {"name": "adam", "lr": 1e-3},
            "train": {"epochs": 4},
        },
        "architectures": ["hps"],
        "methods": ["ew", "uw", "dwa", "gradnorm", "mgda", "pcgrad", "cagrad", "imtl_g", *PMTL_SPREAD],
        "seeds": [0, 1, 2],
    },
    "dense": {
        "base": {
            "data": {
                "name": "multitask.bench.dense_data:ShapesUnitDepth",  # depth / 7.56: 1-task δ1 .73, not .010
                "batch_size": 16,
                "eval_batch_size": 100,
                "kwargs": {"size": 32},
                "split_kwargs": {"train": {"n": 400}, "val": {"n": 100}, "test": {"n": 100}},
            },
            "model": {"backbone": "unet", "kwargs": {"backbone_kwargs": {"width": 8}}},
            "optim": {"name": "adam", "lr": 3e-3},
            "train": {"epochs": 3},
        },
        "architectures": ["hps", "mtan", "cross_stitch"],
        "methods": ["ew", "uw", "dwa", "mgda", "pcgrad", "cagrad", "imtl_g"],
        "all_methods": False,  # dense training on a CPU: the listed methods only (--methods for more)
        "seeds": [0, 1, 2],
    },
    # partial labels (issue 14): MultiMNIST with 10 % of the "right" digit's training labels kept; other
    # fractions with --set data.label_fraction.right=0.5 (1.0: the default suite's data)
    "partial": {
        "base": {
            "data": {
                "name": "multimnist",
                "batch_size": 128,
                "eval_batch_size": 1000,
                "label_fraction": {"right": 0.1},
            },
            "model": {"backbone": "lenet"},
            "optim": {"name": "adam", "lr": 1e-3},
            "train": {"epochs": 4},
        },
        "architectures": ["hps"],
        "methods": [
            "ew",
            "uw",
            "dwa",
            "famo",
            "stch",
            "mgda",
            "pcgrad",
            "cagrad",
            "imtl_g",
            "nash_mtl",
            "db_mtl",
        ],
        "all_methods": False,  # the methods that keep per-task state across absent tasks, and stateless ones
        "seeds": [0, 1, 2],
    },
    # multi-input (issue 14): one dataset per task, four domains of the shipped MNIST digits (plain,
    # inverted, rotated, textured), one batch of every domain per step
    "domains": {
        "base": {
            "data": {"name": "mnist_domains", "batch_size": 64, "eval_batch_size": 500},
            "model": {"backbone": "lenet"},
            "optim": {"name": "adam", "lr": 1e-3},
            "train": {"epochs": 4},
        },
        "architectures": ["hps"],
        "methods": ["ew", "uw", "dwa", "famo", "mgda", "pcgrad", "cagrad", "imtl_g", "nash_mtl", "upgrad"],
        "all_methods": False,
        "seeds": [0, 1, 2],
    },
    # many tasks (issue 14): 24 synthetic regression tasks in 4 planted groups, an MLP encoder
    "many": {
        "base": {
            "data": {
                "name": "planted_groups",
                "batch_size": 128,
                "eval_batch_size": 500,
                "kwargs": {"num_tasks": 24, "num_groups": 4},
            },
            "model": {"backbone": "mlp", "kwargs": {"backbone_kwargs": {"hidden": [64, 64]}}},
            "optim": {"name": "adam", "lr": 1e-3},
            "train": {"epochs": 8},
        },
        "architectures": ["hps"],
        "methods": ["ew", "uw", "dwa", "famo", "mgda", "pcgrad", "cagrad", "imtl_g", "nash_mtl", "upgrad"],
        "all_methods": False,
        "seeds": [0, 1, 2],
    },
    # learned sharing (issue 18): the learned-sharing models against HPS and single-task, equal weighting;
    # the searches (adashare, learning_to_branch, bmtas) run in two phases (multitask.train.phases)
    "sharing": {
        "base": {
            "data": {"name": "multimnist", "batch_size": 128, "eval_batch_size": 1000},
            "model": {"backbone": "lenet"},
            "optim": {"name": "adam", "lr": 1e-3},
            "train": {"epochs": 4},
        },
        "architectures": [
            "hps",
            "maximum_roaming",
            "soft_ordering",
            "routing",
            "stochastic_filter_groups",
            "adashare",
            "learning_to_branch",
            "bmtas",
        ],
        "methods": ["ew"],
        "all_methods": False,
        "seeds": [0, 1, 2],
    },
    "sharing-dense": {
        "base": {
            "data": {
                "name": "shapes",
                "batch_size": 16,
                "eval_batch_size": 100,
                "kwargs": {"size": 32},
                "split_kwargs": {"train": {"n": 400}, "val": {"n": 100}, "test": {"n": 100}},
            },
            "model": {"backbone": "resnet18", "kwargs": {"backbone_kwargs": {"width": 8}}},
            "optim": {"name": "adam", "lr": 3e-3},
            "train": {"epochs": 3},
        },
        "architectures": [
            "hps",
            "adashare",
            "maximum_roaming",
            "soft_ordering",
            "stochastic_filter_groups",
            "learning_to_branch",
            "bmtas",
        ],
        "methods": ["ew"],
        "all_methods": False,
        "seeds": [0, 1, 2],
    },
}


def suite_grid(
    name: str, *, methods: list[str] | None = None, all_methods: bool = True, seeds: list[int] | None = None
) -> Grid:
    """A named suite. With ``all_methods`` every other registered method that runs in parameters mode
    is appended; ``seeds`` defaults to the suite's (default suite: 0, 1, 2)."""
    if name not in SUITES:
        close = difflib.get_close_matches(name, list(SUITES), n=2)
        hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
        raise ValueError(f"unknown suite {name!r}; {hint}known: {', '.join(sorted(SUITES))}")
    spec = copy.deepcopy(SUITES[name])
    chosen = list(methods) if methods else list(spec["methods"])
    if all_methods and spec.get("all_methods", True) and not methods:
        present = {parse_method(m)[1] for m in chosen}
        chosen += [m for m in list_methods() if m not in present and runs_in_parameters_grid(METHODS.get(m))]
    return Grid(
        base=spec["base"],
        architectures=spec["architectures"],
        methods=chosen,
        seeds=list(seeds if seeds is not None else spec.get("seeds", [0])),
    )


def parse_method(entry: Any) -> tuple[str, str, dict[str, Any]]:
    """``(label, registered name, kwargs)`` of a method entry (see the module docstring)."""
    if isinstance(entry, dict):
        unknown = sorted(set(entry) - {"name", "kwargs", "label"})
        if unknown or "name" not in entry:
            raise ValueError(f"method entry {entry!r}: expected keys 'name', optional 'kwargs', 'label'")
        kwargs = dict(entry.get("kwargs") or {})
        return str(entry.get("label") or entry["name"]), str(entry["name"]), kwargs
    if not isinstance(entry, str) or not entry:
        raise TypeError(f"method entry must be a name, 'name[key=value,...]' or a dict, got {entry!r}")
    if "[" not in entry:
        return entry, entry, {}
    name, _, rest = entry.partition("[")
    if not rest.endswith("]") or not name:
        raise ValueError(f"method entry {entry!r}: expected 'name[key=value,...]'")
    kwargs: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest[:-1].split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"method entry {entry!r}: {item!r} is not key=value")
        kwargs[key.strip()] = yaml.safe_load(value)
    return entry, name, kwargs
