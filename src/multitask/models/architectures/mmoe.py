"""MMoE: Multi-gate Mixture-of-Experts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._experts import SoftmaxGate, make_experts, mix, pool, run_experts
from multitask.models.architectures._moe_base import ExpertMixtureModel
from multitask.models.architectures._ownership import check_positive
from multitask.models.base import register_model


@register_model("mmoe")
class MMoE(ExpertMixtureModel):
    """Multi-gate Mixture-of-Experts.

    Ma, Zhao, Yi, Chen, Hong, Chi. Modeling Task Relationships in Multi-task Learning with Multi-gate
    Mixture-of-Experts. KDD 2018.

    n shared experts fᵢ, one softmax gate per task (Eqs. 6-8)::

        yₖ = hₖ(fᵏ(x)),   fᵏ(x) = Σᵢ gᵏ(x)ᵢ fᵢ(x),   gᵏ(x) = softmax(W_gk x)

    ``x`` is the input vector (no backbone), or the backbone's output (its global average pool feeds
    the gates; conv experts keep the spatial map so dense heads work).

    Args:
        tasks: the tasks; one gate ``W_gk`` and one head (tower) ``hₖ`` each.
        backbone: ``None`` (vector input), a registered backbone name, or a module with ``out_channels``.
        in_channels: input channels (images) or input features (vectors).
        num_experts: n (paper: 8 experts in its synthetic-data study).
        expert_channels: width of each expert (toolkit default 64).
        expert_depth: layers per expert (paper: single-layer experts; default 1).
        head: head kind for all tasks or a ``{task: kind}`` mapping (``create_head``; e.g. ``"aspp"``).
        backbone_kwargs: extra arguments of ``create_backbone``.

    Parameters: backbone and experts are shared; each task owns its gate and head.
    """

    _task_containers: ClassVar[tuple[str, ...]] = ("heads", "gates")
    model_name: ClassVar[str] = "mmoe"

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: str | nn.Module | None = None,
        in_channels: int = 3,
        num_experts: int = 8,
        expert_channels: int = 64,
        expert_depth: int = 1,
        head: str | Mapping[str, str] | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks, backbone, in_channels, backbone_kwargs, expert_channels, expert_depth, head)
        self.num_experts = check_positive(num_experts, "num_experts", self.model_name)
        self.experts = make_experts(
            num_experts, self.spatial, self.feature_channels, expert_channels, expert_depth
        )
        self.gates = nn.ModuleList(SoftmaxGate(self.feature_channels, num_experts) for _ in self.tasks)
        #: the last forward's gate weights ``{task: [B, n]}`` (detached), for inspection
        self.gate_weights: dict[str, Tensor] = {}

    def mix_features(self, features: Tensor) -> list[Tensor]:
        outputs = run_experts(self.experts, features)
        gate_in = pool(features)
        mixed = []
        for task, gate in zip(self.tasks, self.gates):
            w = gate(gate_in)
            self.gate_weights[task.name] = w.detach()
            mixed.append(mix(outputs, w))
        return mixed
