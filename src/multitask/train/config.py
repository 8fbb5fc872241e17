"""Run configuration: dataclasses <-> YAML, strict.

Every field has a default. An unknown key, a value of the wrong type or a value outside what a field
allows (``data.batch_size: 0``, ``optim.name: adm``) is a one-line ``ValueError`` that names the key and
what is allowed. YAML is read with a ``yaml.SafeLoader`` that also reads YAML 1.2 floats such as
``1e-3`` (PyYAML's YAML 1.1 rules read them as strings), in files and in ``--set a.b=c`` overrides.

Changing ``method.name`` with an override clears the file's ``method.kwargs`` (they belong to the file's
method) unless the same overrides also set ``method.kwargs``.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import re
import tempfile
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` plus YAML 1.2 floats without a dot (``1e-3``, ``5E4``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """Parse YAML text safely (no Python objects), reading ``1e-3`` as a float."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def _check(rule: Callable[[Any], bool], allowed: str) -> dict[str, Any]:
    return {"check": rule, "allowed": allowed}


def _at_least(n: int, kind: str = "an integer") -> dict[str, Any]:
    return _check(lambda v: v >= n, f"{kind} >= {n}")


_POSITIVE = _check(lambda v: v > 0, "a number > 0")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:[0-9]+)?)$")


@dataclass
class DataConfig:
    """Dataset (``multitask.create_dataset``; a registered name or ``"package.module:Class"``) and loading.

    ``kwargs`` go to every split; ``split_kwargs`` (``{"train": {...}, "val": {...}, "test": {...}}``)
    add or override keys for one split (e.g. ``shapes``' per-split ``n``). ``in_memory``: ``"auto"``
    stacks each split once into tensors on the training device (no per-sample work per step) when it
    fits in 1 GiB, ``num_workers`` is 0 and ``kwargs`` do not ask for ``augment`` (random augmentation
    per item would be frozen); ``"always"`` / ``"never"`` force it.

    ``tasks``: train on these of the dataset's tasks only, in this order (``None``: all of them), e.g.
    ``[left]`` or the tasks of one group chosen by :mod:`multitask.affinity` (helpers included): the
    model's heads, losses, metrics, the selected epoch's Δm and a ``train.baseline`` are restricted to
    them (see :mod:`multitask.data.subset`). An unknown name is an error listing the dataset's tasks.

    ``label_fraction`` (partial labels): keep the training split's labels for this fraction of the
    samples, one number for every task or ``{task: fraction}``; the draw is
    :func:`multitask.data.partial.label_fraction` with seed ``label_seed`` (``None``: 0), independent of
    ``train.seed`` so that seeds compare methods on the same labels. Validation and test keep all labels.
    """

    name: str = "multimnist"
    root: str | None = None
    batch_size: int = field(default=256, metadata=_at_least(1))
    eval_batch_size: int = field(default=512, metadata=_at_least(1))
    num_workers: int = field(default=0, metadata=_at_least(0))
    in_memory: Literal["auto", "always", "never"] = "auto"
    kwargs: dict[str, Any] = field(default_factory=dict)
    split_kwargs: dict[str, Any] = field(default_factory=dict)
    tasks: list[str] | None = field(
        default=None,
        metadata=_check(lambda v: 0 < len(v) == len(set(v)), "a non-empty list of distinct task names"),
    )
    label_fraction: float | dict[str, float] | None = None
    label_seed: int | None = None


@dataclass
class ModelConfig:
    """Architecture (``multitask.create_model``; a registered name or ``"package.module:Class"``).

    The model is called as ``cls(tasks=..., backbone=..., in_channels=..., **kwargs)``.
    """

    name: str = "hps"
    backbone: str = "lenet"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodConfig:
    """Balancing method (``multitask.create_method``; a registered name or ``"package.module:Class"``).

    ``mode``: ``"parameters"`` (default; the Jacobian w.r.t. the shared parameters, as in the papers)
    or ``"features"`` (w.r.t. the shared representation, MGDA-UB style; an error when the method does
    not support it, and parameters mode when the architecture has no single shared representation).
    Loss weightings ignore it.
    """

    name: str = "ew"
    kwargs: dict[str, Any] = field(default_factory=dict)
    mode: Literal["parameters", "features"] = "parameters"


@dataclass
class OptimConfig:
    """Optimizer and LR schedule (``step``: x ``gamma`` every ``step_size`` epochs; ``cosine``: the run)."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = field(default=1e-3, metadata=_POSITIVE)
    weight_decay: float = field(default=0.0, metadata=_at_least(0, "a number"))
    momentum: float = field(default=0.9, metadata=_check(lambda v: 0 <= v < 1, "a number in [0, 1)"))
    scheduler: Literal["none", "step", "cosine"] = "none"
    step_size: int = field(default=10, metadata=_at_least(1))
    gamma: float = field(default=0.5, metadata=_POSITIVE)


@dataclass
class TrainConfig:
    """Loop settings.

    ``device``: ``auto`` (CUDA, else MPS, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    ``nonfinite``: ``"raise"`` stops at a non-finite task loss with an error naming the task and step
    (logs so far are written, the last checkpoint stays); ``"skip"`` skips such steps and counts them.
    ``checkpoint_every``: also checkpoint every this many steps inside an epoch (0 = only at epoch end).
    ``aux_weight``: weight of deep-supervision losses (intermediate predictions) added to each task's loss.
    ``progress``: a progress bar per epoch and a one-line summary after each epoch.
    ``precision``: ``fp32``; ``bf16`` (autocast, no loss scale) or ``fp16`` (autocast and a loss scale:
    the method sees unscaled gradients, an overflowed step is skipped and counted, the method untouched).
    ``accumulate``: split each batch into this many micro-batches, one update (exact, see
    :mod:`multitask.train.accumulate`; the batch size must divide evenly, as over processes).
    """

    epochs: int = field(default=10, metadata=_at_least(1))
    seed: int = 0
    device: str = field(
        default="auto", metadata=_check(lambda v: bool(_DEVICE.match(v)), "auto, cpu, cuda, cuda:N, mps")
    )
    out_dir: str = "runs/default"
    max_steps_per_epoch: int | None = field(default=None, metadata=_at_least(1))
    checkpoint_every: int = field(default=0, metadata=_at_least(0))
    nonfinite: Literal["raise", "skip"] = "raise"
    aux_weight: float = field(default=1.0, metadata=_at_least(0, "a number"))
    progress: bool = True
    tensorboard: bool = True
    baseline: str | None = None
    deterministic: bool = True
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    accumulate: int = field(default=1, metadata=_at_least(1))


@dataclass
class SearchConfig:
    """Architecture searches (models with ``architecture_parameters()``: AdaShare, Learning to Branch,
    BMTAS). ``alternate`` (default, as the papers): hold out ``arch_fraction`` of the training split
    (``None``: the model's default, the paper's share) and update the architecture parameters on those
    batches only, with their own Adam (``arch_lr``, the authors' 0.01), after each epoch's weight steps
    on the rest (which leave them frozen); ``False``: one optimizer on every batch, jointly.
    """

    alternate: bool = True
    arch_fraction: float | None = field(
        default=None, metadata=_check(lambda v: 0 < v < 1, "a number in (0, 1)")
    )
    arch_lr: float = field(default=0.01, metadata=_POSITIVE)


#: fields that may differ when a run is resumed (they do not change what is trained or selected)
RESUMABLE_CHANGES = (
    "train.epochs",
    "train.out_dir",
    "train.device",
    "train.progress",
    "train.tensorboard",
    "train.checkpoint_every",
    "data.eval_batch_size",
    "data.num_workers",
    "data.in_memory",
)


@dataclass
class Config:
    """One run: data, model, method, optimizer, loop, architecture search."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    # ---- conversions ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Config:
        return from_dict(cls, data or {}, "")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> Config:
        """Check every field (types, allowed values) as :meth:`from_dict` does; returns ``self``."""
        from_dict(type(self), self.to_dict(), "")
        return self

    @classmethod
    def from_yaml(
        cls, path: str | os.PathLike[str], overrides: list[str] | None = None, notes: list[str] | None = None
    ) -> Config:
        """Read ``path`` and apply ``overrides``; ``notes`` (if given) receives what the overrides cleared."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            data = load_yaml(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from err
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
        return cls.from_dict(apply_overrides(data or {}, overrides or [], notes))

    def to_yaml(self, path: str | os.PathLike[str]) -> None:
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def apply_overrides(
    data: dict[str, Any], overrides: list[str], notes: list[str] | None = None
) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides (``c`` parsed as YAML) to a nested dict (a new dict is returned).

    When ``method.name`` changes and no override sets ``method.kwargs``, the old kwargs are dropped
    (they were the old method's); a line saying so is appended to ``notes``.
    """
    out = copy.deepcopy(data)
    old_method = out.get("method", {}).get("name") if isinstance(out.get("method"), dict) else None
    touched: set[str] = set()
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
            node[parts[-1]] = load_yaml(raw)
        except yaml.YAMLError as err:
            raise ValueError(
                f"override {item!r}: value is not valid YAML: {' '.join(str(err).split())}"
            ) from err
        touched.add(".".join(parts[:3]))
    method = out.get("method")
    if isinstance(method, dict) and "method.name" in touched and method.get("name") != old_method:
        if method.get("kwargs") and not any(k.startswith("method.kwargs") for k in touched):
            if notes is not None:
                notes.append(
                    f"method.name changed from {old_method!r} to {method['name']!r}: dropped the config's "
                    f"method.kwargs {method['kwargs']} (set new ones with --set method.kwargs=...)"
                )
            method["kwargs"] = {}
    return out


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """``{"a.b": (old, new)}`` for every leaf key whose value differs between two config dicts."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and prefix.count(".") < 1:
            out.update(config_diff(a, b, f"{path}."))
        elif a != b:
            out[path] = (a, b)
    return out


def from_dict(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from ``data``, checking keys, types and values; errors name the key path."""
    where = prefix or "config"
    if not isinstance(data, dict):
        raise ValueError(f"config key {where!r}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        close = difflib.get_close_matches(str(unknown[0]), list(fields), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown config key {key!r} ({hint}allowed in {where}: {sorted(fields)})")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        converted = _convert(hints[name], value, key)
        meta = fields[name].metadata
        if "check" in meta and converted is not None and not meta["check"](converted):
            raise ValueError(f"config key {key!r}: {value!r} is not allowed (allowed: {meta['allowed']})")
        kwargs[name] = converted
    return cls(**kwargs)


def _convert(tp: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed or not isinstance(value, str):
            close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"config key {key!r}: {value!r} is not allowed (allowed: {', '.join(allowed)}){hint}"
            )
        return value
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
        if not math.isfinite(value):
            raise ValueError(f"config key {key!r}: expected a finite number, got {value!r}")
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
