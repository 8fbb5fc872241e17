"""Task-switching network: one encoder-decoder and one output head for all tasks, switched by a task code."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._conditioning import (
    ConditionedLayer,
    MappingNetwork,
    pool_channels,
    task_codes,
)
from multitask.models.architectures._experts import build_backbone, is_spatial
from multitask.models.architectures._ownership import check_in_channels, check_positive, finish_prediction
from multitask.models.base import MultiTaskModel, register_model


@register_model("task_switching")
class TaskSwitchingNetwork(MultiTaskModel):
    """Task-switching network (TSN): a single task-conditioned encoder-decoder performs one task at a time.

    Sun, Probst, Paudel, Popović, Kanakis, Patel, Dai, Van Gool. Task Switching Network for Multi-task
    Learning. ICCV 2021 (code: ``GuoleiSun/TSNs``).

    Task t has a fixed code ``zₜ`` (block one-hot: ones on ``[t·n, (t+1)·n)``, ``n = code_dim // T``) that
    a shared mapping network turns into a latent ``wₜ = M(zₜ)`` (pixel norm, then ``mapping_depth``
    linear - LeakyReLU(0.2) layers, as StyleGAN's). Every decoder layer is conditioned on it::

        Cₜ(h) = LeakyReLU(γ(wₜ) ⊙ norm(W h) + β(wₜ)),   (γ, β) = A wₜ + b   (AdaIN)

    The decoder is the paper's U-Net on the backbone's multi-scale features ``s₀ … s_{S-1}`` (finest
    first, ``forward_stages``): a conditioned 1x1 conv on *every* scale's skip connection, then from
    the coarsest scale up ``x ← C_up,i([up(x) ; C_skip,i(sᵢ)])`` (bilinear upsampling, 3x3 conditioned
    convs), a final conditioned 3x3 conv at the finest scale, and **one** output 1x1 conv shared by all
    tasks with ``K = max_t outputsₜ`` channels. Nothing in the network belongs to one task, so its size
    does not depend on the number of tasks (that is the point of the paper); ``code_dim`` bounds T.

    Tasks with fewer outputs than K read the shared output through adaptive average pooling over the
    channels (bin i averages channels ``⌊iK/k⌋ … ⌈(i+1)K/k⌉ - 1``), as the TSN code does (21 channels
    pooled to 7 for parts, 3 for normals, 1 for edges and saliency). Vector tasks (classification,
    regression) also average the output over the pixels (= a linear head on pooled features); the
    paper has only dense tasks. Dense predictions are resized to the input bilinearly.

    Differences from the code, all deliberate: the decoder runs at the backbone's scales (the code's
    ResNet-18 decoder also merges the stem at 1/2 and upsamples once more; our ResNets expose 1/4 to
    1/32); its widths are ``decoder_channels`` (the code's: 512, 256, 256, 128 then 64); StyleGAN's
    equalised learning rate is reproduced only at initialisation (``N(0, 2/fan_in)`` weights). On
    vector backbones (``mlp``, ``lenet``) the decoder is two conditioned linear layers.

    ``model(x)`` runs every task (the encoder once, the decoder once per task);
    ``model(x, task=name)`` runs just that task and returns ``{name: prediction}``.

    Args:
        tasks: the tasks.
        backbone: a registered backbone name or module (the shared encoder).
        in_channels: input channels (images) or features (vectors).
        code_dim: length of the task codes and of the latent vectors (code's default: 100).
        mapping_depth: layers of the mapping network (code's default: 8).
        decoder_channels: widths of the decoder's conditioned 3x3 layers, coarse to fine (S - 1 up
            blocks, then the final layer), or one width for all (toolkit default 64).
        norm: ``"instance"`` (the paper's AdaIN, default; maps must have more than one pixel) or
            ``"batch"`` (the code's AdaBN variant).
        backbone_kwargs: extra arguments of ``create_backbone``.

    Parameters: all shared (``task_parameters(t)`` is empty; ``has_task_parameters = False``).
    ``has_shared_representation`` is False: the shared decoder differs per task, so a trainer uses
    parameters mode.
    """

    has_task_parameters = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: str | nn.Module,
        in_channels: int = 3,
        code_dim: int = 100,
        mapping_depth: int = 8,
        decoder_channels: int | Sequence[int] = 64,
        norm: str = "instance",
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks)
        name = "task_switching"
        check_in_channels(in_channels, name)
        d = check_positive(code_dim, "code_dim", name)
        check_positive(mapping_depth, "mapping_depth", name)
        built = build_backbone(backbone, in_channels, backbone_kwargs, name)
        if built is None:
            raise ValueError(f"{name}: needs a backbone (the shared encoder)")
        self.backbone = built
        self.spatial = is_spatial(built)
        for task in self.tasks:
            if not isinstance(task, Task):
                raise TypeError(f"{name}: tasks must be Task objects, got {type(task).__name__}")
            if task.dense and not self.spatial:
                raise ValueError(
                    f"{name}: task {task.name!r} is dense ({task.kind}) but the backbone returns vectors; "
                    "use a convolutional backbone"
                )
        self.register_buffer("codes", task_codes(len(self.tasks), d), persistent=False)
        self.mapping = MappingNetwork(d, mapping_depth)
        if self.spatial and hasattr(built, "forward_stages"):
            stages = [int(c) for c in built.stage_channels]
        else:
            stages = [int(built.out_channels)]
        self.multi_scale = self.spatial and len(stages) > 1
        n_layers = len(stages) if self.spatial else 2
        widths = self._widths(decoder_channels, n_layers)
        kernel = 3 if self.spatial else 1

        def layer(cin: int, cout: int, k: int = kernel) -> ConditionedLayer:
            return ConditionedLayer(cin, cout, k, d, norm, self.spatial)

        self.skips = nn.ModuleList(layer(c, c, 1) for c in stages) if self.spatial else nn.ModuleList()
        self.up = nn.ModuleList()
        if self.spatial:
            prev = stages[-1]
            for i, c in zip(range(len(stages) - 2, -1, -1), widths):  # coarse to fine
                self.up.append(layer(prev + stages[i], c))
                prev = c
            self.final = layer(prev, widths[-1])
        else:
            self.up.append(layer(stages[0], widths[0]))
            self.final = layer(widths[0], widths[1])
        self.num_outputs = max(int(t.num_outputs) for t in self.tasks)
        out = nn.Conv2d if self.spatial else nn.Linear
        self.output = out(widths[-1], self.num_outputs, *((1,) if self.spatial else ()))

    @staticmethod
    def _widths(spec: int | Sequence[int], n: int) -> list[int]:
        if isinstance(spec, int) and not isinstance(spec, bool):
            return [check_positive(spec, "decoder_channels", "task_switching")] * n
        widths = [check_positive(c, "decoder_channels", "task_switching") for c in spec]
        if len(widths) != n:
            raise ValueError(
                f"task_switching: decoder_channels needs {n} widths for this backbone (coarse to fine), "
                f"got {len(widths)}"
            )
        return widths

    def _features(self, x: Tensor) -> list[Tensor]:
        """The encoder's features, finest first (one entry for single-scale backbones)."""
        if self.multi_scale:
            return list(self.backbone.forward_stages(x))
        return [self.backbone(x)]

    def _decode(self, feats: list[Tensor], latent: Tensor) -> Tensor:
        """The decoder switched by ``latent``, then the shared output layer."""
        if not self.spatial:
            return self.output(self.final(self.up[0](feats[0], latent), latent))
        x = self.skips[-1](feats[-1], latent)
        for up, i in zip(self.up, range(len(feats) - 2, -1, -1)):
            skip = self.skips[i](feats[i], latent)
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
            x = up(torch.cat([x, skip], dim=1), latent)
        return self.output(self.final(x, latent))

    def forward(self, x: Tensor, task: str | None = None) -> dict[str, Tensor]:
        if task is not None:
            self._check_task(task)
        names = self.task_names if task is None else [task]
        size = (int(x.shape[-2]), int(x.shape[-1])) if x.dim() == 4 else None
        feats = self._features(x)
        out = {}
        for name in names:
            k = self.task_names.index(name)
            t = self.tasks[k]
            pred = self._decode(feats, self.mapping(self.codes[k]))
            if not t.dense and pred.dim() == 4:
                pred = pred.mean(dim=(2, 3))
            out[name] = finish_prediction(pool_channels(pred, int(t.num_outputs)), t, size)
        return out

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        return self.parameters()

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        return iter(())
