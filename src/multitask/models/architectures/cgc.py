"""CGC: Customized Gate Control (one level of PLE)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import nn

from multitask.core.tasks import Task
from multitask.models.architectures.ple import PLE
from multitask.models.base import register_model


@register_model("cgc")
class CGC(PLE):
    """Customized Gate Control.

    Tang, Liu, Zhao, Gong. Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) Model
    for Personalized Recommendations. RecSys 2020 (Section 4.2).

    ``m_s`` shared experts and ``m_t`` experts per task; task k's gate mixes only its own experts and the
    shared ones (Eqs. 2-4)::

        yₖ = tₖ(gᵏ(x)),   gᵏ(x) = wᵏ(x) Sᵏ(x),   wᵏ(x) = softmax(W_gᵏ x),
        Sᵏ(x) = [Eₖ,₁(x) … Eₖ,ₘₜ(x), Eₛ,₁(x) … Eₛ,ₘₛ(x)]

    It is :class:`~multitask.models.architectures.ple.PLE` with a single extraction level (so no shared
    gate).

    Args:
        tasks: the tasks; each owns its experts, its gate and its tower (head).
        backbone: ``None`` (vector input), a registered backbone name, or a module with ``out_channels``.
        in_channels: input channels (images) or input features (vectors).
        num_shared_experts: ``m_s`` (toolkit default 1; the paper tunes it per dataset).
        num_task_experts: ``m_t`` per task (toolkit default 1).
        expert_channels: width of each expert (toolkit default 64).
        expert_depth: layers per expert (default 1).
        head: head kind for all tasks or a ``{task: kind}`` mapping (``create_head``).
        backbone_kwargs: extra arguments of ``create_backbone``.

    Parameters: backbone and shared experts are shared; each task owns its experts, gate and head.
    """

    model_name: ClassVar[str] = "cgc"

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: str | nn.Module | None = None,
        in_channels: int = 3,
        num_shared_experts: int = 1,
        num_task_experts: int = 1,
        expert_channels: int = 64,
        expert_depth: int = 1,
        head: str | Mapping[str, str] | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            tasks,
            backbone=backbone,
            in_channels=in_channels,
            num_levels=1,
            num_shared_experts=num_shared_experts,
            num_task_experts=num_task_experts,
            expert_channels=expert_channels,
            expert_depth=expert_depth,
            head=head,
            backbone_kwargs=backbone_kwargs,
        )
