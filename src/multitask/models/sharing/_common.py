"""Helpers shared by the learned-sharing architectures: construction, per-task block runs, configs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor

from multitask.models.architectures._common import BackboneSpec, HeadSpec
from multitask.models.base import MultiTaskModel


def spec_of(
    arch: str,
    backbone: BackboneSpec,
    in_channels: int,
    backbone_kwargs: Mapping[str, Any] | None,
    head: HeadSpec,
) -> dict[str, Any] | None:
    """What ``derived_config`` needs to rebuild the network (``None`` when the backbone was given built)."""
    if not isinstance(backbone, str):
        return None
    spec: dict[str, Any] = {"backbone": backbone, "in_channels": in_channels}
    if backbone_kwargs:
        spec["backbone_kwargs"] = dict(backbone_kwargs)
    if head is not None:
        spec["head"] = head if isinstance(head, str) else dict(head)
    return spec


def model_config(arch: str, spec: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A ``model`` config section ``{"name", "backbone", "kwargs"}`` for ``create_model``."""
    if spec is None:
        raise ValueError(
            f"{arch}: derived_config needs the backbone given by name (a built backbone cannot be "
            "written to a config)"
        )
    kwargs = {k: v for k, v in spec.items() if k != "backbone"}
    kwargs.update(extra)
    return {"name": arch, "backbone": spec["backbone"], "kwargs": kwargs}


def save_model_config(config: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``{"model": config}`` as YAML (atomically), a config file the trainer reads.

    ``config`` is what a search model's ``derived_config()`` returns.
    """
    if not isinstance(config, Mapping) or not {"name", "backbone", "kwargs"} <= set(config):
        raise ValueError(f"save_model_config: expected a {{name, backbone, kwargs}} mapping, got {config!r}")
    path = Path(path)
    text = yaml.safe_dump({"model": _plain(dict(config))}, sort_keys=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:  # atomic: a reader sees the old file or the whole new one
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively (``yaml.safe_dump`` writes only plain types)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def check_positive(arch: str, field: str, value: Any, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        what = "int" if integer else "number"
        raise ValueError(f"{arch}: {field} must be a positive {what}, got {value!r}")


def check_fraction(arch: str, field: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ValueError(f"{arch}: {field} must be in (0, 1], got {value!r}")


def task_index(arch: str, task: int | str, names: Sequence[str]) -> int:
    if isinstance(task, str):
        if task not in names:
            raise ValueError(f"{arch}: unknown task {task!r}; tasks are {list(names)}")
        return names.index(task)
    if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task < len(names):
        raise ValueError(f"{arch}: task index must be in [0, {len(names)}), got {task!r}")
    return task


def mask_like(mask: Tensor, h: Tensor) -> Tensor:
    """A ``[C]`` channel mask shaped to multiply ``h`` (``[B, C]`` or ``[B, C, H, W]``)."""
    return mask.view(1, -1, *([1] * (h.dim() - 2)))


class AnnealedSearch(MultiTaskModel):
    """Base of the search models whose Gumbel-softmax temperature decays once per epoch after a warm-up:
    ``τ = τ₀ · decay^max(0, epochs done − warmup_epochs)`` (``warmup_epochs`` 0 unless a model sets it).

    ``epochs_done`` is a buffer, so the schedule travels with the model's checkpoint.
    """

    warmup_epochs: int = 0

    @property
    def warming_up(self) -> bool:
        return int(self.epochs_done) < self.warmup_epochs

    @property
    def architecture_learning(self) -> bool:
        return not self.warming_up

    def _init_schedule(self, init_temperature: float, temperature_decay: float) -> None:
        self.init_temperature = float(init_temperature)
        self.temperature_decay = float(temperature_decay)
        self.register_buffer("epochs_done", torch.zeros((), dtype=torch.long))

    def on_epoch_end(self, epoch: int) -> None:
        self.epochs_done.fill_(epoch + 1)

    @property
    def epochs_after_warmup(self) -> int:
        return max(0, int(self.epochs_done) - self.warmup_epochs)

    @property
    def temperature(self) -> float:
        return self.init_temperature * self.temperature_decay**self.epochs_after_warmup
