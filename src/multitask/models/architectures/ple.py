"""PLE: Progressive Layered Extraction (stacked CGC levels)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._experts import SoftmaxGate, make_experts, mix, pool, run_experts
from multitask.models.architectures._moe_base import ExpertMixtureModel
from multitask.models.architectures._ownership import check_positive
from multitask.models.base import register_model


@register_model("ple")
class PLE(ExpertMixtureModel):
    """Progressive Layered Extraction.

    Tang, Liu, Zhao, Gong. Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) Model
    for Personalized Recommendations. RecSys 2020.

    Each extraction level j holds ``m_s`` shared experts and ``m_t`` experts per task. Task k's gate
    mixes its own experts and the shared ones; every level but the last also has a shared gate over
    all experts, whose output is the next level's shared input (Eqs. 2-5)::

        gᵏʲ(x) = wᵏʲ(hᵏʲ⁻¹) Sᵏʲ(hᵏʲ⁻¹, hˢʲ⁻¹),   wᵏʲ(h) = softmax(W_gᵏʲ h)
        Sᵏʲ = [Eₖ,₁ʲ … Eₖ,ₘₜʲ, Eₛ,₁ʲ … Eₛ,ₘₛʲ]   (task k's experts read hᵏʲ⁻¹, shared experts hˢʲ⁻¹)
        hᵏʲ = gᵏʲ,   hˢʲ = softmax(W_gˢʲ hˢʲ⁻¹) [all experts of level j]
        yₖ = tₖ(hᵏᴺ)

    with ``hᵏ⁰ = hˢ⁰ = x`` (the input vector or the backbone's features; feature maps are globally
    average-pooled for the gates). One level is CGC (:class:`multitask.models.architectures.cgc.CGC`).

    Args:
        tasks: the tasks; each owns its experts, gates and tower (head).
        backbone: ``None`` (vector input), a registered backbone name, or a module with ``out_channels``.
        in_channels: input channels (images) or input features (vectors).
        num_levels: N extraction levels (toolkit default 2; the paper tunes the depth per dataset).
        num_shared_experts: ``m_s`` per level (toolkit default 1; the paper tunes it per dataset).
        num_task_experts: ``m_t`` per task and level (toolkit default 1).
        expert_channels: width of each expert (toolkit default 64).
        expert_depth: layers per expert (default 1).
        head: head kind for all tasks or a ``{task: kind}`` mapping (``create_head``).
        backbone_kwargs: extra arguments of ``create_backbone``.

    Parameters: backbone, shared experts and shared gates are shared; each task owns its experts, its
    gates and its head.
    """

    _task_containers: ClassVar[tuple[str, ...]] = ("heads", "task_experts", "task_gates")
    model_name: ClassVar[str] = "ple"

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: str | nn.Module | None = None,
        in_channels: int = 3,
        num_levels: int = 2,
        num_shared_experts: int = 1,
        num_task_experts: int = 1,
        expert_channels: int = 64,
        expert_depth: int = 1,
        head: str | Mapping[str, str] | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks, backbone, in_channels, backbone_kwargs, expert_channels, expert_depth, head)
        name = self.model_name
        self.num_levels = check_positive(num_levels, "num_levels", name)
        self.num_shared_experts = check_positive(num_shared_experts, "num_shared_experts", name)
        self.num_task_experts = check_positive(num_task_experts, "num_task_experts", name)
        n_t, n_s, width, depth = num_task_experts, num_shared_experts, expert_channels, expert_depth
        dims = [self.feature_channels] + [width] * (num_levels - 1)  # input width of each level
        self.shared_experts = nn.ModuleList(make_experts(n_s, self.spatial, d, width, depth) for d in dims)
        # shared gates over all T*n_t + n_s experts, on every level but the last
        n_all = len(self.tasks) * n_t + n_s
        self.shared_gates = nn.ModuleList(SoftmaxGate(d, n_all) for d in dims[:-1])
        # task-major: task_experts[k][j] are task k's experts on level j
        self.task_experts = nn.ModuleList(
            nn.ModuleList(make_experts(n_t, self.spatial, d, width, depth) for d in dims) for _ in self.tasks
        )
        self.task_gates = nn.ModuleList(
            nn.ModuleList(SoftmaxGate(d, n_t + n_s) for d in dims) for _ in self.tasks
        )
        #: the last forward's gate weights ``{task: [per level [B, m_t + m_s]]}`` (detached)
        self.gate_weights: dict[str, list[Tensor]] = {}

    def mix_features(self, features: Tensor) -> list[Tensor]:
        task_inputs = [features] * len(self.tasks)
        shared_input = features
        self.gate_weights = {t.name: [] for t in self.tasks}
        for level in range(self.num_levels):
            shared_out = run_experts(self.shared_experts[level], shared_input)
            task_outs = [run_experts(self.task_experts[k][level], h) for k, h in enumerate(task_inputs)]
            next_inputs = []
            for k, task in enumerate(self.tasks):
                w = self.task_gates[k][level](pool(task_inputs[k]))
                self.gate_weights[task.name].append(w.detach())
                next_inputs.append(mix(torch.cat([task_outs[k], shared_out], dim=1), w))
            if level < self.num_levels - 1:
                w_s = self.shared_gates[level](pool(shared_input))
                shared_input = mix(torch.cat([*task_outs, shared_out], dim=1), w_s)
            task_inputs = next_inputs
        return task_inputs
