"""DSelect-k: MMoE with differentiable sparse (k-of-n) gates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._dselect_gate import DSelectKGate
from multitask.models.architectures._experts import make_experts, mix, pool, run_experts
from multitask.models.architectures._moe_base import ExpertMixtureModel
from multitask.models.architectures._ownership import check_positive
from multitask.models.base import register_model


@register_model("dselect_k")
class DSelectK(ExpertMixtureModel):
    """Multi-gate mixture of experts with DSelect-k gates.

    Hazimeh, Zhao, Chowdhery, Sathiamoorthy, Chen, Mazumder, Hong, Chi. DSelect-k: Differentiable
    Selection in the Mixture of Experts with Applications to Multi-Task Learning. NeurIPS 2021.

    As MMoE (n shared experts, one gate and one tower per task), but each task's gate selects at most k
    experts through k binary-encoded single-expert selectors (m = ⌈log₂ n⌉ bits each)::

        q = Σᵢ₌₁ᵏ softmax(α)ᵢ r(z⁽ⁱ⁾),   r(z)ₗ = Πⱼ₌₁ᵐ [S(zⱼ) if bⱼ(l) = 1 else 1 - S(zⱼ)]
        S(t) = 0 (t ≤ -γ/2),  1 (t ≥ γ/2),  -2t³/γ³ + 3t/(2γ) + 1/2 otherwise

        fᵏ(x) = Σₗ qᵏₗ fₗ(x),   yₖ = hₖ(fᵏ(x))

    where bⱼ(l) is bit j of l. Static gates learn ``z, α`` per task; per-example gates compute them by
    linear maps of the (pooled) input. Training adds the entropy regulariser
    ``λ Σₖ Σᵢ H(r(z⁽ⁱ⁾ᵏ))`` that drives every selector to a single expert (and, when n is not a power
    of two, ``Σ 1/Σₗ r(z)ₗ`` so no selector settles on an unreachable code); per-example gates sum
    both over the examples of the batch, as the reference code does (so λ is not divided by the batch
    size; static gates count them once). After each forward,
    :meth:`regularization` returns that term for the batch; **a trainer adds it to the objective**
    (it is task-independent: add it once, outside the per-task losses).

    Args:
        tasks: the tasks; each owns its gate and head.
        backbone: ``None`` (vector input), a registered backbone name, or a module with ``out_channels``.
        in_channels: input channels (images) or input features (vectors).
        num_experts: n (toolkit default 8).
        k: at most k non-zero expert weights per gate (toolkit default 2).
        gamma: smooth-step width γ (reference implementation default 1.0).
        entropy_reg: λ (reference implementation's default schedule: 1e-6; the paper tunes it), on
            the batch sum as in the reference.
        per_example: per-example (True, like MMoE's gates) or static task-only gates.
        expert_channels: width of each expert (toolkit default 64).
        expert_depth: layers per expert (default 1).
        head: head kind for all tasks or a ``{task: kind}`` mapping (``create_head``).
        backbone_kwargs: extra arguments of ``create_backbone``.

    Parameters: backbone and experts are shared; each task owns its gate and head.
    """

    _task_containers: ClassVar[tuple[str, ...]] = ("heads", "gates")
    model_name: ClassVar[str] = "dselect_k"

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: str | nn.Module | None = None,
        in_channels: int = 3,
        num_experts: int = 8,
        k: int = 2,
        gamma: float = 1.0,
        entropy_reg: float = 1e-6,
        per_example: bool = True,
        expert_channels: int = 64,
        expert_depth: int = 1,
        head: str | Mapping[str, str] | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks, backbone, in_channels, backbone_kwargs, expert_channels, expert_depth, head)
        name = self.model_name
        self.num_experts = check_positive(num_experts, "num_experts", name)
        if num_experts < 2:
            raise ValueError(f"{name}: num_experts must be >= 2, got {num_experts}")
        self.k = check_positive(k, "k", name)
        if k > num_experts:
            raise ValueError(f"{name}: k must be <= num_experts ({num_experts}), got {k}")
        if not gamma > 0:
            raise ValueError(f"{name}: gamma must be > 0, got {gamma}")
        if not entropy_reg >= 0:
            raise ValueError(f"{name}: entropy_reg must be >= 0, got {entropy_reg}")
        self.gamma, self.entropy_reg, self.per_example = float(gamma), float(entropy_reg), bool(per_example)
        self.experts = make_experts(
            num_experts, self.spatial, self.feature_channels, expert_channels, expert_depth
        )
        in_features = self.feature_channels if per_example else None
        self.gates = nn.ModuleList(DSelectKGate(num_experts, k, self.gamma, in_features) for _ in self.tasks)
        #: the last forward's gate weights ``{task: [B, n]}`` (detached), for inspection
        self.gate_weights: dict[str, Tensor] = {}
        self._selectors: list[Tensor] = []

    def mix_features(self, features: Tensor) -> list[Tensor]:
        outputs = run_experts(self.experts, features)
        gate_in = pool(features)
        mixed, self._selectors = [], []
        for task, gate in zip(self.tasks, self.gates):
            w, selectors = gate(gate_in)
            self.gate_weights[task.name] = w.detach()
            self._selectors.append(selectors)
            mixed.append(mix(outputs, w))
        return mixed

    def regularization(self) -> Tensor:
        """The gates' regulariser for the last forward (a scalar with graph; 0 before any forward)."""
        if not self._selectors:
            return torch.zeros(())
        terms = [g.regularization(s, self.entropy_reg) for g, s in zip(self.gates, self._selectors)]
        return torch.stack(terms).sum()
