"""Helpers shared by the architectures: backbone/head construction, output sizing, vector/map views."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.backbones import Backbone, create_backbone, new_context
from multitask.models.heads import create_head

#: a backbone given to an architecture: a registered name, or an already built :class:`Backbone`
BackboneSpec = str | Backbone
#: head kind for every task, or per task name (missing names get the default kind)
HeadSpec = str | Mapping[str, str] | None


def build_backbones(
    spec: BackboneSpec, n: int, in_channels: int = 3, backbone_kwargs: Mapping[str, Any] | None = None
) -> list[Backbone]:
    """``n`` independent backbones: fresh ones from a name, or ``spec`` and deep copies of it."""
    kwargs = dict(backbone_kwargs or {})
    if isinstance(spec, str):
        return [create_backbone(spec, in_channels=in_channels, **kwargs) for _ in range(n)]
    if isinstance(spec, Backbone):
        if kwargs:
            raise ValueError("backbone_kwargs only apply when the backbone is given by name")
        return [spec] + [copy.deepcopy(spec) for _ in range(n - 1)]
    raise TypeError(f"backbone must be a registered name or a Backbone module, got {type(spec).__name__}")


def build_backbone(
    spec: BackboneSpec, in_channels: int = 3, backbone_kwargs: Mapping[str, Any] | None = None
) -> Backbone:
    """One backbone from a name (``create_backbone``) or a :class:`Backbone` instance."""
    return build_backbones(spec, 1, in_channels, backbone_kwargs)[0]


def backbone_name(backbone: Backbone) -> str:
    return getattr(type(backbone), "registry_name", type(backbone).__name__)


def check_tasks(tasks: Sequence[Task], backbone: Backbone, arch: str) -> None:
    """Tasks must be :class:`Task` objects, and dense tasks need a dense backbone."""
    for task in tasks:
        if not isinstance(task, Task):
            raise TypeError(f"{arch}: tasks must be Task objects, got {type(task).__name__}")
        if task.dense and not backbone.is_dense:
            raise ValueError(
                f"{arch}: task {task.name!r} is dense ({task.kind}) but backbone {backbone_name(backbone)!r} "
                "returns vectors; use a dense backbone (segnet, unet, resnet18, resnet50)"
            )


def build_columns(
    tasks: Sequence[Task],
    spec: BackboneSpec,
    in_channels: int,
    backbone_kwargs: Mapping[str, Any] | None,
    arch: str,
) -> list[Backbone]:
    """One backbone column per task (:func:`build_backbones`), checked by :func:`check_tasks`."""
    columns = build_backbones(spec, len(tasks), in_channels, backbone_kwargs)
    check_tasks(tasks, columns[0], arch)
    return columns


def run_columns(
    columns: Sequence[Backbone],
    tasks: Sequence[Task],
    heads: Sequence[nn.Module],
    x: Tensor,
    exchange: Callable[[int, list[Tensor]], list[Tensor]],
) -> dict[str, Tensor]:
    """Run one column per task block by block, ``exchange(i, features)`` after block ``i``, then the heads.

    ``exchange`` mixes the tasks' features between columns (cross-stitch, NDDR); it returns them
    unchanged after blocks without a connection. Dense predictions are resized to the input's size.
    """
    columns[0].check_input(x)
    hs = [x] * len(tasks)
    ctxs = [new_context() for _ in tasks]
    for i in range(columns[0].num_blocks):
        hs = [col.run_block(i, h, ctx)[1] for col, h, ctx in zip(columns, hs, ctxs)]
        hs = exchange(i, hs)
    size = x.shape[-2:]
    return {t.name: to_size(t, head(h), size) for t, head, h in zip(tasks, heads, hs)}


def build_heads(tasks: Sequence[Task], in_channels: int, head: HeadSpec = None) -> nn.ModuleList:
    """One head per task (``create_head``), in task order.

    Task-indexed lists (not dicts keyed by name) keep every task name valid: a ``ModuleDict`` rejects
    names such as ``"type"`` or ``"a.b"``.
    """
    if head is not None and not isinstance(head, (str, Mapping)):
        raise TypeError(f"head must be a kind name or a {{task: kind}} mapping, got {type(head).__name__}")
    if isinstance(head, Mapping):
        unknown = set(head) - {t.name for t in tasks}
        if unknown:
            raise ValueError(f"head: unknown task(s) {sorted(unknown)}")
    heads = nn.ModuleList()
    for task in tasks:
        kind = head.get(task.name) if isinstance(head, Mapping) else head
        heads.append(create_head(task, in_channels, kind=kind))
    return heads


def to_size(task: Task, pred: Tensor, size: Sequence[int] | None) -> Tensor:
    """Upsample a dense prediction to ``size`` (bilinear); other predictions pass through."""
    if task.dense and size is not None and tuple(pred.shape[-2:]) != tuple(size):
        pred = F.interpolate(pred, size=tuple(size), mode="bilinear", align_corners=False)
    return pred


def as_map(h: Tensor) -> Tensor:
    """A ``[B, C]`` vector as a ``[B, C, 1, 1]`` map; maps pass through."""
    return h[:, :, None, None] if h.dim() == 2 else h


def like(h: Tensor, ref: Tensor) -> Tensor:
    """Undo :func:`as_map` when ``ref`` is a vector."""
    return h.flatten(1) if ref.dim() == 2 else h


def resize(a: Tensor, ref: Tensor, mode: str = "pool") -> Tensor:
    """Resize map ``a`` to the spatial size of ``ref`` (a map or, for vectors, 1x1).

    Shrinking uses adaptive max pooling (``mode="pool"``) or average pooling (``mode="avg"``);
    growing uses bilinear interpolation.
    """
    target = tuple(as_map(ref).shape[-2:])
    a = as_map(a)
    size = tuple(a.shape[-2:])
    if size == target:
        return a
    if size[0] >= target[0] and size[1] >= target[1]:
        pool = F.adaptive_max_pool2d if mode == "pool" else F.adaptive_avg_pool2d
        return pool(a, target)
    return F.interpolate(a, size=target, mode="bilinear", align_corners=True)


def parameters_of(modules: Iterable[nn.Module | nn.Parameter]) -> Iterator[nn.Parameter]:
    """The parameters of ``modules`` (modules or bare parameters), each once."""
    seen: set[int] = set()
    for m in modules:
        params = [m] if isinstance(m, nn.Parameter) else m.parameters()
        for p in params:
            if id(p) not in seen:
                seen.add(id(p))
                yield p


def block_indices(spec: Sequence[int] | None, n_blocks: int, arch: str, field: str) -> list[int]:
    """Validate a list of block indices (negative ones count from the end); ``None`` means all blocks."""
    if spec is None:
        return list(range(n_blocks))
    out = set()
    for i in spec:
        if isinstance(i, bool) or not isinstance(i, int) or not -n_blocks <= i < n_blocks:
            raise ValueError(f"{arch}: {field} entries must be block indices in [0, {n_blocks}), got {i!r}")
        out.add(i % n_blocks)
    if not out:
        raise ValueError(f"{arch}: {field} must name at least one block")
    return sorted(out)
