"""Run configuration: dataclasses <-> YAML, strict.

Every field has a default; an unknown key or a value of the wrong type is a ``ValueError`` that names
the key (``model.backbone``); ``--set a.b=c`` overrides parse ``c`` as YAML. YAML is read with
``yaml.safe_load`` only.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class DataConfig:
    """Dataset (``multitask.create_dataset``) and loader settings.

    ``kwargs`` go to every split; ``split_kwargs`` (``{"train": {...}, "val": {...}, "test": {...}}``)
    add or override keys for one split (e.g. ``shapes``' per-split ``n``).
    """

    name: str = "multimnist"
    root: str | None = None
    batch_size: int = 256
    eval_batch_size: int = 512
    num_workers: int = 0
    kwargs: dict[str, Any] = field(default_factory=dict)
    split_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """Architecture (``multitask.create_model``)."""

    name: str = "hps"
    backbone: str = "lenet"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodConfig:
    """Balancing method (``multitask.create_method``) and the Jacobian mode of gradient methods.

    ``mode``: ``"parameters"`` (default; the Jacobian w.r.t. the shared parameters, as in the papers)
    or ``"features"`` (w.r.t. the shared representation, MGDA-UB style; an error when the method does
    not support it, and parameters mode when the architecture has no single shared representation).
    Loss weightings ignore it.
    """

    name: str = "ew"
    kwargs: dict[str, Any] = field(default_factory=dict)
    mode: str = "parameters"


@dataclass
class OptimConfig:
    """Optimizer (``adam``, ``adamw``, ``sgd``) and LR schedule (``none``, ``step``, ``cosine``)."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: str = "none"
    step_size: int = 10
    gamma: float = 0.5


@dataclass
class TrainConfig:
    """Loop settings.

    ``nonfinite``: ``"raise"`` stops at a non-finite task loss with an error naming the task and step
    (the last good checkpoint stays); ``"skip"`` skips such steps and counts them.
    ``checkpoint_every``: also checkpoint every this many steps inside an epoch (0 = only at epoch end).
    ``aux_weight``: weight of deep-supervision losses (intermediate predictions) added to each task's loss.
    """

    epochs: int = 10
    seed: int = 0
    device: str = "auto"
    out_dir: str = "runs/default"
    max_steps_per_epoch: int | None = None
    checkpoint_every: int = 0
    nonfinite: str = "raise"
    aux_weight: float = 1.0
    progress: bool = True
    tensorboard: bool = True
    baseline: str | None = None
    deterministic: bool = True


@dataclass
class Config:
    """One run: data, model, method, optimizer, loop."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ---- conversions ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Config:
        return from_dict(cls, data or {}, "")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], overrides: list[str] | None = None) -> Config:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        with path.open("r", encoding="utf-8") as fh:
            try:
                data = yaml.safe_load(fh)
            except yaml.YAMLError as err:
                raise ValueError(f"{path}: not valid YAML: {err}") from err
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
        return cls.from_dict(apply_overrides(data or {}, overrides or []))

    def to_yaml(self, path: str | os.PathLike[str]) -> None:
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides (``c`` parsed as YAML) to a nested dict (a new dict is returned)."""
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ValueError(f"override {item!r}: empty key part")
        node = out
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ValueError(f"override {item!r}: {p!r} is not a section")
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ValueError(f"override {item!r}: value is not valid YAML: {err}") from err
    return out


def from_dict(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from ``data``, checking keys and types; errors name the key path."""
    where = prefix or "config"
    if not isinstance(data, dict):
        raise ValueError(f"config key {where!r}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ValueError(f"unknown config key {key!r} (allowed in {where}: {sorted(names)})")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _convert(hints[name], value, key)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"config key {key!r}: bad value {value!r}")
    if tp is Any:
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"config key {key!r}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"config key {key!r}: expected a list, got {type(value).__name__}")
        (arg,) = typing.get_args(tp) or (Any,)
        return [_convert(arg, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"config key {key!r}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"config key {key!r}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"config key {key!r}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"config key {key!r}: expected a string, got {value!r}")
        return value
    raise ValueError(f"config key {key!r}: unsupported type {tp}")


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
