"""The DSelect-k gate: smooth-step, binary-encoded selection of k out of n experts.

Hazimeh, Zhao, Chowdhery, Sathiamoorthy, Chen, Mazumder, Hong, Chi. DSelect-k: Differentiable Selection
in the Mixture of Experts with Applications to Multi-Task Learning. NeurIPS 2021.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

#: added inside the logarithm of the entropy, as in the reference implementation
ENTROPY_EPS = 1e-6


def smooth_step(t: Tensor, gamma: float = 1.0) -> Tensor:
    """Smooth-step ``S(t)`` (Hazimeh et al. 2020): 0 for ``t <= -γ/2``, 1 for ``t >= γ/2``, else
    ``-2t³/γ³ + 3t/(2γ) + 1/2`` (a cubic, C¹ at the joints)."""
    cubic = -2.0 / gamma**3 * t**3 + 3.0 / (2.0 * gamma) * t + 0.5
    return torch.where(
        t <= -gamma / 2, torch.zeros_like(t), torch.where(t >= gamma / 2, torch.ones_like(t), cubic)
    )


def binary_codes(num_experts: int) -> Tensor:
    """``[n, m]`` bool matrix, row i the m-bit binary code of i (most significant bit first)."""
    m = math.ceil(math.log2(num_experts))
    rows = [[(i >> (m - 1 - j)) & 1 for j in range(m)] for i in range(num_experts)]
    return torch.tensor(rows, dtype=torch.bool).reshape(num_experts, m)


def selector_outputs(z: Tensor, codes: Tensor, gamma: float) -> Tensor:
    """Single-expert selectors ``r(z)ᵢ = Πⱼ (S(zⱼ) if bit j of i else 1 - S(zⱼ))``.

    ``z`` is ``[..., k, m]``; the result is ``[..., k, n]``. Each row sums to 1 when n is a power of 2.
    """
    s = smooth_step(z, gamma).unsqueeze(-2)  # [..., k, 1, m]
    factors = torch.where(codes.to(z.device), s, 1.0 - s)  # [..., k, n, m]
    return factors.prod(dim=-1)


def selector_entropy(selectors: Tensor) -> Tensor:
    """``-Σ r log(r + ε)`` over the selectors' expert axis, summed over selectors: ``[...]``."""
    return -(selectors * torch.log(selectors + ENTROPY_EPS)).sum(dim=(-2, -1))


class DSelectKGate(nn.Module):
    """One task's DSelect-k gate over ``num_experts`` experts with at most ``k`` non-zeros.

    Weights ``q = Σᵢ softmax(α)ᵢ r(z⁽ⁱ⁾)`` where each of the k single-expert selectors has its own
    ``z⁽ⁱ⁾ ∈ ℝᵐ`` (``m = ⌈log₂ n⌉``). A *static* gate learns ``z`` and ``α`` directly; a *per-example*
    gate computes them as linear maps of its input. Initialisation as in the reference code:
    ``z ~ U(-γ/100, γ/100)``, ``α ~ U(-0.05, 0.05)``.
    """

    def __init__(self, num_experts: int, k: int, gamma: float, in_features: int | None) -> None:
        super().__init__()
        self.num_experts, self.k, self.gamma = num_experts, k, gamma
        self.register_buffer("codes", binary_codes(num_experts), persistent=False)
        self.num_binary = int(self.codes.shape[1])
        self.power_of_2 = num_experts == 2**self.num_binary
        self.per_example = in_features is not None
        bound = gamma / 100.0
        if in_features is None:
            self.z_logits = nn.Parameter(torch.empty(k, self.num_binary).uniform_(-bound, bound))
            self.w_logits = nn.Parameter(torch.empty(k).uniform_(-0.05, 0.05))
        else:
            self.z_layer = nn.Linear(in_features, k * self.num_binary)
            self.w_layer = nn.Linear(in_features, k)
            for p in self.z_layer.parameters():
                nn.init.uniform_(p, -bound, bound)
            for p in self.w_layer.parameters():
                nn.init.uniform_(p, -0.05, 0.05)

    def forward(self, gate_input: Tensor) -> tuple[Tensor, Tensor]:
        """``gate_input [B, D]`` -> (expert weights ``[B, n]``, selector outputs ``[B, k, n]``)."""
        batch = gate_input.shape[0]
        if self.per_example:
            z = self.z_layer(gate_input).reshape(batch, self.k, self.num_binary)
            alpha = self.w_layer(gate_input)
        else:
            z = self.z_logits.unsqueeze(0).expand(batch, -1, -1)
            alpha = self.w_logits.unsqueeze(0).expand(batch, -1)
        selectors = selector_outputs(z, self.codes, self.gamma)  # [B, k, n]
        weights = (torch.softmax(alpha, dim=-1).unsqueeze(-1) * selectors).sum(dim=1)
        return weights, selectors

    def regularization(self, selectors: Tensor, entropy_reg: float) -> Tensor:
        """``λ Σ H(selectors)`` plus, when n is not a power of 2, ``Σ 1/Σₗ r⁽ⁱ⁾ₗ`` (keeps the reachable
        experts' weight from vanishing).

        As in the reference code (google-research ``dselect_k_moe``: ``reduce_sum`` over all axes), a
        per-example gate sums both terms over the batch as well as over its k selectors, so against a
        batch-mean task loss λ acts B times as strongly as it would on a batch mean. A static gate's
        selectors do not depend on the example (the reference has no batch axis there): counted once.
        """
        if not self.per_example:
            selectors = selectors[:1]
        reg = entropy_reg * selector_entropy(selectors).sum()
        if not self.power_of_2:
            reg = reg + (1.0 / selectors.sum(dim=-1)).sum()
        return reg
