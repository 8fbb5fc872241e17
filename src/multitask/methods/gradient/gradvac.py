"""GradVac: steer every pair of task gradients towards an adaptive (EMA) cosine target."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, work_gramian
from multitask.core.jacobian import check_jacobian
from multitask.methods.base import register_method
from multitask.methods.gradient._random import SeededGenerator, SeededGradientMethod

_MAX_TARGET = 1.0 - 1e-6  # |φ̂| used in the correction (φ̂ = ±1 would need an infinite step)


@register_method("gradvac")
class GradVac(SeededGradientMethod):
    r"""Gradient Vaccine.

    Wang, Tsvetkov, Firat, Cao. Gradient Vaccine: Investigating and Improving Multi-task Optimization
    in Massively Multilingual Models. ICLR 2021.

    Update rule (Algorithm 1): for every task $i$ start from $g_i' = g_i$ and visit the other tasks
    $j$ in a random order; with $\phi_{ij} = \cos(g_i', g_j)$ and the target $\hat\phi_{ij}$:

    $$
    \text{if } \phi_{ij} < \hat\phi_{ij}: \qquad
    g_i' \leftarrow g_i' + g_j \, \frac{\|g_i'\| \big(\hat\phi_{ij} \sqrt{1 - \phi_{ij}^2} - \phi_{ij}
    \sqrt{1 - \hat\phi_{ij}^2}\big)}{\|g_j\| \sqrt{1 - \hat\phi_{ij}^2}}
    $$

    which makes $\cos(g_i', g_j) = \hat\phi_{ij}$ exactly; then
    $\hat\phi_{ij} \leftarrow (1 - \beta) \hat\phi_{ij} + \beta \phi_{ij}$ (EMA, $\hat\phi = 0$ at the
    start, updated at every visit, corrected or not, as in the paper's algorithm; LibMTL does the same
    since its commit "fix a bug in GradVac" of February 2024, before which it updated only the pairs it
    corrected, so its targets could only fall). The update is $d = \sum_i g_i'$ (``reduction="mean"``
    divides by $T$). With ``φ̂ = 0`` it acts like PCGrad; the EMA lets the targets follow the typical
    similarity of each pair.

    Every ``gᵢ'`` stays a combination of the original rows, so with one group the method needs only
    the Gramian (coefficient rows ``Cᵢ``: ``gᵢ'·gⱼ = Cᵢ G eⱼ``, ``‖gᵢ'‖² = Cᵢ G Cᵢᵀ``). The paper applies
    the rule per parameter block ("per layer"); pass ``groups`` as the block sizes (they must add up
    to the Jacobian's width, e.g. ``[p.numel() for p in shared]``): each block then has its own targets
    and its own correction (one random order per step shared by all blocks, as in LibMTL), and the
    method needs the Jacobian itself (no single weight vector: ``last_weights`` is ``None``).

    Choice of β: we follow the paper, β = 1e-2 (its experiments' value): a slow EMA that tracks the
    long-run similarity of each pair rather than the last batch, which is what the paper motivates the
    adaptive target with. LibMTL defaults to ``GradVac_beta = 0.5`` (its config), a fast EMA close to
    the last batch's cosine; pass ``beta=0.5`` to reproduce LibMTL. (torchjd's main branch has no GradVac; a
    GradVac proposed for torchjd uses 1e-2 but updates the EMA before the comparison.)

    Args:
        beta: EMA rate ``β`` of the targets (paper: 1e-2).
        groups: ``"whole"`` (default: one block) or a sequence of block sizes.
        reduction: ``"sum"`` (default, paper) or ``"mean"``.
        seed: seed of the method's own generator for the random orders; ``None`` draws from torch's
            global generator.
    Modes: parameters, features (block sizes then refer to the representation's flattened entries).
    State: the targets ``φ̂`` (``[T, T, groups]``) and the generator state.
    """

    needs = "gramian"
    _state_attrs = ("targets", "rng_state")
    supports_absent = True  # partial labels: the targets of pairs of present tasks only are used and updated

    def __init__(
        self,
        beta: float = 0.01,
        groups: str | Sequence[int] = "whole",
        reduction: str = "sum",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and 0.0 <= beta <= 1.0):
            raise ValueError(f"GradVac: beta must be a number in [0, 1], got {beta!r}")
        if reduction not in ("sum", "mean"):
            raise ValueError(f"GradVac: reduction must be 'sum' or 'mean', got {reduction!r}")
        if isinstance(groups, str):
            if groups != "whole":
                raise ValueError(
                    f"GradVac: groups must be 'whole' or a sequence of block sizes, got {groups!r}"
                )
            self.groups: str | list[int] = "whole"
        else:
            sizes = list(groups)
            if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
                raise ValueError(f"GradVac: groups must be positive block sizes, got {sizes!r}")
            self.groups = sizes
            self.needs = "jacobian"  # type: ignore[misc]  (per-block Gramians need J)
        self.beta = float(beta)
        self.reduction = reduction
        self._rng = SeededGenerator(seed)
        #: EMA targets φ̂ ``[T, T, K]`` (row i: the task being corrected, column j: the task it meets)
        self.targets: Tensor | None = None

    # ---- state -------------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        self.targets = None

    # ---- the rule ----------------------------------------------------------------------------
    def orders(self, num_tasks: int) -> Tensor:
        """``[T, T−1]``: row ``i`` is the random order in which task ``i`` visits the others."""
        t = num_tasks
        keys = torch.rand(t, t, generator=self._rng.get("cpu"))
        keys.fill_diagonal_(2.0)  # task i itself sorts last and is dropped
        return keys.argsort(dim=1)[:, : t - 1]

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        if self.groups != "whole":
            raise ValueError(
                "GradVac with per-block groups needs the Jacobian: call aggregate(J) / direction(J)"
            )
        gramian = check_gramian(gramian)
        work = work_gramian(gramian)
        targets = self._targets(work.shape[0], 1, work)
        order = self.orders(work.shape[0]).to(work.device)
        w, targets[..., 0] = _vaccinate(work, targets[..., 0], order, self.beta)
        self._store(targets)
        return self._reduce(w).to(gramian.dtype)

    def direction(self, jacobian: Tensor, losses: Tensor | None = None) -> Tensor:
        if self.groups == "whole":
            return super().direction(jacobian, losses)
        jacobian = check_jacobian(jacobian)
        t, n = jacobian.shape
        if sum(self.groups) != n:
            raise ValueError(
                f"GradVac: groups {self.groups} add up to {sum(self.groups)}, "
                f"but the Jacobian has {n} columns"
            )
        targets = self._targets(t, len(self.groups), jacobian)
        order = self.orders(t).to(jacobian.device)
        parts = []
        for k, block in enumerate(jacobian.split(self.groups, dim=1)):
            work = work_gramian(block @ block.T)
            w, targets[..., k] = _vaccinate(work, targets[..., k], order, self.beta)
            parts.append(self._reduce(w).to(jacobian.dtype) @ block)
        self._store(targets)
        self.last_weights = None
        return torch.cat(parts)

    def _reduce(self, w: Tensor) -> Tensor:
        return w / w.shape[0] if self.reduction == "mean" else w

    def _targets(self, t: int, k: int, like: Tensor) -> Tensor:
        """The targets of the step's tasks (all, or the present ones under partial labels), a copy."""
        dtype = torch.float32 if like.device.type == "mps" else torch.float64
        full_t = t if self.present is None else int(self.total_tasks or t)
        if self.targets is None:
            full = torch.zeros(full_t, full_t, k, dtype=dtype, device=like.device)
        elif tuple(self.targets.shape) != (full_t, full_t, k):
            raise ValueError(
                f"GradVac: stored targets have shape {tuple(self.targets.shape)} but this call has {full_t} "
                f"tasks and {k} groups; call reset()"
            )
        else:
            full = self.targets.to(dtype=dtype, device=like.device).clone()
        if self.present is None:
            return full
        self._full_targets = full
        idx = self.present.to(like.device)
        return full[idx][:, idx].clone()

    def _store(self, targets: Tensor) -> None:
        if self.present is None:
            self.targets = targets
            return
        full = self._full_targets
        idx = self.present.to(full.device)
        full[idx[:, None], idx[None, :]] = targets
        self.targets = full

    def extra_repr(self) -> str:
        return (
            f"beta={self.beta}, groups={self.groups!r}, reduction={self.reduction!r}, seed={self._rng.seed}"
        )


def _vaccinate(g: Tensor, target: Tensor, order: Tensor, beta: float) -> tuple[Tensor, Tensor]:
    """One GradVac pass on one block: ``(Σᵢ Cᵢ, updated targets)`` for the Gramian ``g`` ``[T, T]``.

    The T − 1 positions are sequential (each correction changes ``gᵢ'``) but every task ``i`` moves at once;
    the loop runs in numpy on a host copy (a ``T × T`` problem: ~15 tiny operations per position, which cost
    ~10x more as torch dispatches; the Gramian methods' solvers run on the host anyway, see
    :func:`multitask.core.gramian.to_host`)."""
    gh = g.detach().cpu().numpy()
    th = target.detach().cpu().numpy().copy()
    oh = order.detach().cpu().numpy()
    t = gh.shape[0]
    coef = np.eye(t, dtype=gh.dtype)
    rows = np.arange(t)
    diag = np.maximum(np.diagonal(gh), 0.0)
    tiny = np.finfo(gh.dtype).tiny
    for pos in range(t - 1):
        j = oh[:, pos]  # the task met at this position, for every i at once
        dot = (coef * gh[:, j].T).sum(axis=1)  # gᵢ'·gⱼ
        ni_sq = np.maximum(np.einsum("ik,ik->i", coef @ gh, coef), 0.0)  # ‖gᵢ'‖²
        nj_sq = diag[j]
        valid = (ni_sq > 0) & (nj_sq > 0)
        denom = np.where(valid, np.sqrt(ni_sq * nj_sq), 1.0)
        phi = np.clip(dot / np.maximum(denom, tiny), -1.0, 1.0)
        phi_hat = th[rows, j]
        ph = np.clip(phi_hat, -_MAX_TARGET, _MAX_TARGET)
        adjust = valid & (phi < phi_hat)
        num = ph * np.sqrt(np.maximum(1.0 - phi * phi, 0.0)) - phi * np.sqrt(1.0 - ph * ph)
        ratio = np.where(valid, np.sqrt(ni_sq) / np.sqrt(np.maximum(nj_sq, tiny)), 0.0)
        coef[rows, j] += np.where(adjust, ratio * num / np.sqrt(1.0 - ph * ph), 0.0)
        th[rows, j] = np.where(valid, (1.0 - beta) * phi_hat + beta * phi, phi_hat)
    back = dict(dtype=g.dtype, device=g.device)
    return torch.as_tensor(coef.sum(axis=0)).to(**back), torch.as_tensor(th).to(dtype=target.dtype,
                                                                                 device=target.device)
