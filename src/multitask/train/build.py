"""Construction of a run from a :class:`~multitask.train.config.Config`: device, data, model, method,
optimizer and scheduler. Nothing here touches the run directory, so a bad config fails before any file
is written.

Names are looked up in the registries (``multitask.create_dataset`` / ``create_model`` /
``create_method``), which also accept a user's own class as ``"package.module:ClassName"``.
"""

from __future__ import annotations

import inspect
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multitask.core.tasks import Task
from multitask.data import create_dataset
from multitask.data.partial import label_fraction
from multitask.data.subset import select_tasks
from multitask.methods import METHODS
from multitask.methods.base import GradientMethod, Method, wraps_representation
from multitask.models import create_model
from multitask.models.base import MultiTaskModel
from multitask.train.config import Config
from multitask.train.loader import MultiInputSplit, StreamSplit, TensorSplit, is_multi_input, make_split

SPLITS = ("train", "val", "test")


@dataclass
class Run:
    """The built pieces of one run."""

    device: torch.device
    datasets: dict[str, Any]
    splits: dict[str, TensorSplit | StreamSplit | MultiInputSplit]
    tasks: list[Task]
    model: MultiTaskModel
    method: Method
    mode: str
    optimizer: torch.optim.Optimizer
    scheduler: Any
    reference: dict[str, dict[str, float]] | None


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA, else MPS, else CPU; an unavailable device is a ``ValueError`` naming the key."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        why = (
            "this PyTorch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA GPU is visible"
        )
        raise ValueError(
            f"config key 'train.device': {name!r} is not available ({why}); allowed here: auto, cpu"
        )
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ValueError(
            f"config key 'train.device': {name!r} is not available ({torch.cuda.device_count()} CUDA devices)"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("config key 'train.device': 'mps' is not available here; allowed here: auto, cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_datasets(c: Config) -> dict[str, Any]:
    unknown = sorted(set(c.data.split_kwargs) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown config key 'data.split_kwargs.{unknown[0]}' (allowed: train, val, test)")
    datasets = {
        split: create_dataset(
            c.data.name,
            split=split,
            root=c.data.root,
            **{**c.data.kwargs, **c.data.split_kwargs.get(split, {})},
        )
        for split in SPLITS
    }
    if c.data.tasks is not None:  # a subset of the tasks, in the given order (before partial labels)
        where = f"config key 'data.tasks' (dataset {c.data.name!r})"
        datasets = {s: select_tasks(ds, c.data.tasks, where) for s, ds in datasets.items()}
    if c.data.label_fraction is not None:  # partial labels: on the training split only
        datasets["train"] = label_fraction(datasets["train"], c.data.label_fraction, c.data.label_seed or 0)
    return datasets


def build_model(c: Config, tasks: list[Task], in_channels: int) -> MultiTaskModel:
    """``create_model(name, backbone=, tasks=, in_channels=, **kwargs)`` (``in_channels`` from the data)."""
    kwargs = {"in_channels": in_channels, **c.model.kwargs}
    torch.manual_seed(c.train.seed)
    model = create_model(c.model.name, backbone=c.model.backbone, tasks=tasks, **kwargs)
    if not isinstance(model, MultiTaskModel):
        raise TypeError(
            f"config key 'model.name': {c.model.name!r} built a {type(model).__name__}, "
            "not a multitask.models.MultiTaskModel"
        )
    return model


def build_method(name: str, kwargs: dict[str, Any], num_tasks: int, feature_dim: int | None = None) -> Method:
    """``create_method(name, **kwargs)``, passing ``num_tasks`` when the method's constructor takes it
    (and, for a method that wraps the shared representation, ``dim=feature_dim``)."""
    cls = METHODS.get(name)
    kwargs = dict(kwargs)
    params = inspect.signature(cls).parameters
    if "num_tasks" in params:
        kwargs.setdefault("num_tasks", num_tasks)
    if wraps_representation(cls) and "dim" in params and feature_dim is not None:
        kwargs.setdefault("dim", feature_dim)
    method = cls(**kwargs)
    if not isinstance(method, Method):
        raise TypeError(
            f"config key 'method.name': {name!r} built a {type(method).__name__}, "
            "not a multitask.methods.Method"
        )
    return method


def _feature_dim(c: Config, model: MultiTaskModel, datasets: dict[str, Any]) -> int | None:
    """The last dimension of the shared representation, for methods that wrap it (else ``None``)."""
    if (
        not wraps_representation(METHODS.get(c.method.name))
        or not model.has_shared_representation
    ):
        return None
    device = next(model.parameters()).device
    training = model.training
    model.eval()  # one sample: batch-norm layers must not use (or update) batch statistics
    with torch.no_grad():
        z = model.encode(torch.as_tensor(datasets["train"][0][0])[None].to(device))
    model.train(training)
    if not isinstance(z, torch.Tensor) or z.dim() != 2:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else f"a {type(z).__name__}"
        raise ValueError(
            f"method {c.method.name!r} wraps the shared representation along its last dimension, which needs "
            f"a vector representation [B, d]; model {c.model.name!r} with backbone {c.model.backbone!r} "
            f"gives {shape} for one sample"
        )
    return int(z.shape[-1])


def resolve_mode(c: Config, method: Method, model: MultiTaskModel) -> str:
    """``loss`` for loss weightings; else ``method.mode``, falling back to parameters mode when the
    architecture has no single shared representation, and to features mode for a method that runs only
    there (RotoGrad) when it has one."""
    if not isinstance(method, GradientMethod):
        return "loss"
    if c.method.mode == "parameters" and not method.supports_parameters and method.supports_features:
        if model.has_shared_representation:  # a features-only method (RotoGrad): features mode
            return "features"
    if c.method.mode == "parameters":
        if not method.supports_parameters:
            raise ValueError(
                f"method {c.method.name!r} does not support parameters mode: {method.parameters_error}"
            )
        return "parameters"
    if not method.supports_features:
        raise ValueError(f"method {c.method.name!r} does not support features mode: {method.features_error}")
    return "features" if model.has_shared_representation else "parameters"


def build_optimizer(c: Config, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    o = c.optim
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[o.name]
    return cls(params, lr=o.lr, weight_decay=o.weight_decay)


def build_scheduler(c: Config, opt: torch.optim.Optimizer) -> Any:
    o = c.optim
    if o.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=o.step_size, gamma=o.gamma)
    if o.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.train.epochs)
    return None


def load_baseline(path: str | None, tasks: list[str] | None = None) -> dict[str, dict[str, float]] | None:
    """The single-task validation results in ``path`` (``{"val": {task: {metric: v}}}`` or the inner
    dict), restricted to ``tasks`` when given; a task without results is an error naming it."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config key 'train.baseline': baseline results file not found: {p}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"config key 'train.baseline': {p} is not valid JSON ({err})") from err
    results = data["val"] if isinstance(data, dict) and "val" in data else data
    if not isinstance(results, dict):
        raise ValueError(f"config key 'train.baseline': {p} must hold {{task: {{metric: value}}}}")
    if tasks is None:
        return results
    missing = [t for t in tasks if t not in results]
    if missing:
        raise ValueError(
            f"config key 'train.baseline': {p} has no results for task(s) {missing} "
            f"(it has {sorted(results)}); run the single-task baseline on these tasks"
        )
    return {t: results[t] for t in tasks}


def build(c: Config) -> Run:
    """Validate ``c`` and build every piece of the run (no file is written)."""
    c.validate()
    device = resolve_device(c.train.device)
    seed_everything(c.train.seed)
    datasets = build_datasets(c)
    tasks: list[Task] = list(datasets["train"].tasks)
    names = [t.name for t in tasks]
    augment = bool(c.data.kwargs.get("augment", False))
    splits: dict[str, Any] = {
        s: MultiInputSplit(
            ds, device, f"{c.data.name}/{s}", c.data.in_memory, c.data.num_workers, augment and s == "train"
        )
        if is_multi_input(ds)
        else make_split(
            ds,
            names,
            device,
            f"{c.data.name}/{s}",
            c.data.in_memory,
            c.data.num_workers,
            augment and s == "train",
        )
        for s, ds in datasets.items()
    }
    in_channels = int(torch.as_tensor(datasets["train"][0][0]).shape[0])  # channels, or features of a vector
    model = build_model(c, tasks, in_channels).to(device)
    method = build_method(c.method.name, c.method.kwargs, len(tasks), _feature_dim(c, model, datasets)).to(
        device
    )
    mode = resolve_mode(c, method, model)
    # an alternating search trains its architecture parameters with their own optimizer (train.search)
    arch = {id(p) for p in model.architecture_parameters()} if c.search.alternate else set()
    weights = [p for p in model.parameters() if id(p) not in arch]
    optimizer = build_optimizer(c, weights + list(method.parameters()))
    return Run(
        device,
        datasets,
        splits,
        tasks,
        model,
        method,
        mode,
        optimizer,
        build_scheduler(c, optimizer),
        load_baseline(c.train.baseline, names),
    )
