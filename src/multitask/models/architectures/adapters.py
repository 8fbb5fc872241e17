"""Residual adapters: a shared backbone with small per-task parallel adapters and task-specific BN."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    build_backbone,
    build_heads,
    check_tasks,
    parameters_of,
    to_size,
)
from multitask.models.base import MultiTaskModel, register_model


class _TaskSwitch:
    """Which task the wrapped layers serve during the current forward (plain object, no parameters)."""

    def __init__(self) -> None:
        self.index: int | None = None

    def current(self) -> int:
        if self.index is None:
            raise RuntimeError("adapters: a wrapped layer ran outside the model's per-task forward")
        return self.index


class ParallelAdapterConv(nn.Module):
    """``y = conv(x) + α_t(x)``: a shared conv plus task ``t``'s 1x1 conv with the same stride.

    ``α_t`` starts at zero, so at initialisation every task sees the shared network (a choice of this
    toolkit: Rebuffi et al.'s code draws the adapters like every other convolution, He-normal with
    fan-out). For convolutions without "same" padding the adapter's output is centre-cropped to the
    conv's output.
    """

    def __init__(self, conv: nn.Conv2d, num_tasks: int, switch: _TaskSwitch) -> None:
        super().__init__()
        self.conv = conv
        self.switch = switch
        self.adapters = nn.ModuleList(
            nn.Conv2d(conv.in_channels, conv.out_channels, 1, stride=conv.stride, bias=False)
            for _ in range(num_tasks)
        )
        for a in self.adapters:
            nn.init.zeros_(a.weight)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x)
        r = self.adapters[self.switch.current()](x)
        dh, dw = r.shape[-2] - y.shape[-2], r.shape[-1] - y.shape[-1]
        if dh or dw:
            r = r[..., dh // 2 : dh // 2 + y.shape[-2], dw // 2 : dw // 2 + y.shape[-1]]
        return y + r


class TaskBatchNorm(nn.Module):
    """One copy of a BatchNorm layer per task (statistics and affine parameters)."""

    def __init__(self, bn: nn.BatchNorm2d, num_tasks: int, switch: _TaskSwitch) -> None:
        super().__init__()
        self.switch = switch
        self.norms = nn.ModuleList(_copy_bn(bn) for _ in range(num_tasks))

    def forward(self, x: Tensor) -> Tensor:
        return self.norms[self.switch.current()](x)


def _copy_bn(bn: nn.BatchNorm2d) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    new.load_state_dict(bn.state_dict())
    return new


def _wrap(module: nn.Module, num_tasks: int, switch: _TaskSwitch, task_norm: bool) -> int:
    """Replace adaptable convs and (optionally) BN layers below ``module``; returns the conv count."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and child.kernel_size != (1, 1) and child.groups == 1:
            setattr(module, name, ParallelAdapterConv(child, num_tasks, switch))
            count += 1
        elif task_norm and isinstance(child, nn.BatchNorm2d):
            setattr(module, name, TaskBatchNorm(child, num_tasks, switch))
        else:
            count += _wrap(child, num_tasks, switch, task_norm)
    return count


@register_model("adapters")
class ResidualAdapters(MultiTaskModel):
    """Residual adapters (parallel configuration).

    Rebuffi, Bilen, Vedaldi. Learning multiple visual domains with residual adapters. NeurIPS 2017;
    Efficient parametrization of multi-domain deep neural networks. CVPR 2018.

    Every k x k convolution ``W`` (k > 1) of the shared backbone gets a parallel task-specific 1x1
    convolution ``α_t`` with the same stride: ``y = W * x + α_t * x``; with ``task_norm`` every BN
    layer is duplicated per task (the papers' domain-specific BN). A forward runs the backbone once
    per task with that task's adapters and BN, then the task's head. The adapters add about
    ``1/k²`` of the convolution parameters per task; ``α_t`` starts at zero, so a fresh model computes
    the shared network for every task (this toolkit's choice; the authors' code initialises the
    adapters He-normal like its other convolutions). Linear layers (LeNet's fc,
    MLPs) get no adapter; a backbone without k x k convolutions is rejected.

    Partition: the backbone's original parameters are shared; adapters, per-task BN and heads are
    task-specific. Each task has its own features, so there is no single shared representation.

    Args:
        tasks: the tasks.
        backbone: registered backbone name or a built backbone (wrapped in place).
        in_channels: input channels.
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        task_norm: per-task BatchNorm layers (papers: yes).
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        task_norm: bool = True,
    ) -> None:
        super().__init__(tasks)
        self.backbone = build_backbone(backbone, in_channels, backbone_kwargs)
        check_tasks(self.tasks, self.backbone, "adapters")
        self._switch = _TaskSwitch()
        if _wrap(self.backbone, len(self.tasks), self._switch, task_norm) == 0:
            raise ValueError("adapters: the backbone has no k x k convolution to attach adapters to")
        self.heads = build_heads(self.tasks, self.backbone.out_channels, head)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.backbone.check_input(x)
        size = x.shape[-2:]
        preds = {}
        try:
            for i, (t, head) in enumerate(zip(self.tasks, self.heads)):
                self._switch.index = i
                preds[t.name] = to_size(t, head(self.backbone(x)), size)
        finally:
            self._switch.index = None
        return preds

    def _task_modules(self, i: int) -> list[nn.Module]:
        mods: list[nn.Module] = []
        for m in self.backbone.modules():
            if isinstance(m, ParallelAdapterConv):
                mods.append(m.adapters[i])
            elif isinstance(m, TaskBatchNorm):
                mods.append(m.norms[i])
        return mods

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        owned = {id(p) for i in range(len(self.tasks)) for p in parameters_of(self._task_modules(i))}
        return (p for p in self.backbone.parameters() if id(p) not in owned)

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        i = self.task_names.index(task)
        return parameters_of([*self._task_modules(i), self.heads[i]])
