"""DB-MTL: log-loss gradients, averaged over steps and rescaled to the largest norm."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.methods.base import GradientMethod, register_method


@register_method("db_mtl")
class DBMTL(GradientMethod):
    r"""Dual-Balancing Multi-Task Learning.

    Lin, Jiang, Ye, Zhang, Chen, Chen, Liu, Kwok. Dual-Balancing for Multi-Task Learning.
    arXiv:2308.12029, 2023 (Neural Networks, 2025).

    Update rule at step $k = 1, 2, \dots$:

    * loss-scale balancing: the gradient of $\log L_t$ is $h_t = g_t / (L_t + \varepsilon)$
      ($\varepsilon = 10^{-8}$);
    * moving average: $\hat g_t \leftarrow \beta_k \hat g_t + (1 - \beta_k) h_t$ with
      $\beta_k = \beta / k^\sigma$ and $\hat g_t = 0$ before the first step (no bias correction, as in the
      authors' LibMTL code);
    * gradient-magnitude balancing: $d = \sum_t \frac{\max_s \|\hat g_s\|}{\|\hat g_t\|} \hat g_t$ (tasks with
      $\hat g_t = 0$ add nothing).

    $d$ combines the averaged gradients, not the rows of this step's $J$, so ``last_weights`` is
    ``None``; ``last_scales`` holds the factors $\max_s \|\hat g_s\| / \|\hat g_t\|$. State: the ``[T, n]``
    buffer ``ĝ`` (part of ``state_dict()``); a Jacobian of another shape raises ``ValueError`` (call
    ``reset()``).

    Args:
        beta: ``β`` (LibMTL default 0.9).
        beta_sigma: ``σ`` of the decay ``βₖ = β/k^σ`` (LibMTL default 0, i.e. a constant ``β``).
    Modes: parameters only (see ``features_error``). Reads the loss values (``uses_losses``).
    """

    needs = "jacobian"
    uses_losses = True
    supports_features = False
    features_error = (
        "DB-MTL keeps a moving average of each task's gradient across steps; gradients with respect to "
        "the shared representation belong to a different batch at every step, so their average has no "
        "meaning (the authors' code rejects representation gradients too). Use parameters mode."
    )
    _state_attrs = ("grad_buffer",)
    supports_absent = True  # partial labels: an absent task's buffer row waits (see _partial_direction)

    def __init__(self, beta: float = 0.9, beta_sigma: float = 0.0) -> None:
        super().__init__()
        if not (isinstance(beta, (int, float)) and 0.0 <= beta < 1.0):
            raise ValueError(f"DB-MTL: beta must lie in [0, 1), got {beta!r}")
        if not (isinstance(beta_sigma, (int, float)) and math.isfinite(beta_sigma) and beta_sigma >= 0):
            raise ValueError(f"DB-MTL: beta_sigma must be a finite number >= 0, got {beta_sigma!r}")
        self.beta = float(beta)
        self.beta_sigma = float(beta_sigma)
        self.grad_buffer: Tensor | None = None
        self.last_scales: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.grad_buffer = None
        self.last_scales = None

    def direction(self, jacobian: Tensor, losses: Tensor | None = None) -> Tensor:
        if self.present is not None:
            return self._partial_direction(jacobian, losses)
        if losses is None:
            raise ValueError("DB-MTL needs the loss values: call aggregate(J, losses)")
        losses = torch.as_tensor(losses, dtype=jacobian.dtype, device=jacobian.device).detach()
        if losses.shape != (jacobian.shape[0],):
            raise ValueError(f"DB-MTL: losses need shape ({jacobian.shape[0]},), got {tuple(losses.shape)}")
        bad = (~(losses > 0)).nonzero().flatten().tolist()
        if bad:
            values = losses[bad].tolist()
            raise ValueError(f"DB-MTL takes log Lₜ and needs positive losses; tasks {bad} have {values}")
        log_grads = jacobian.detach() / (losses + 1e-8)[:, None]
        buffer = self.grad_buffer
        if buffer is None:
            buffer = torch.zeros_like(log_grads)
        elif buffer.shape != log_grads.shape:
            raise ValueError(
                f"DB-MTL: the Jacobian has shape {tuple(log_grads.shape)} but the gradient buffer holds "
                f"{tuple(buffer.shape)} (the tasks or shared parameters changed); call reset()"
            )
        buffer = buffer.to(dtype=log_grads.dtype, device=log_grads.device)
        step = self.step_count + 1
        beta_k = self.beta / step**self.beta_sigma
        buffer = log_grads + beta_k * (buffer - log_grads)
        self.grad_buffer = buffer
        norms = buffer.norm(dim=1)
        nonzero = norms > 0
        safe = torch.where(nonzero, norms, torch.ones_like(norms))
        scales = torch.where(nonzero, norms.max() / safe, torch.zeros_like(norms))
        self.last_scales = scales
        self.last_weights = None
        # max‖ĝ‖ · Σ ĝₜ/‖ĝₜ‖ — unit rows first, so tiny norms cannot overflow the factor
        units = buffer / safe[:, None] * nonzero[:, None].to(buffer.dtype)
        return norms.max() * units.sum(dim=0)

    def _partial_direction(self, jacobian: Tensor, losses: Tensor | None) -> Tensor:
        """Partial labels: the rule on the present tasks' rows of the buffer; absent rows are kept."""
        assert self.present is not None
        full_t = int(self.total_tasks or jacobian.shape[0])
        buffer = self.grad_buffer
        if buffer is None:
            buffer = jacobian.new_zeros((full_t, jacobian.shape[1]))
        elif tuple(buffer.shape) != (full_t, jacobian.shape[1]):
            raise ValueError(
                f"DB-MTL: the gradient buffer holds {tuple(buffer.shape)} but the problem has {full_t} tasks "
                f"and {jacobian.shape[1]} columns; call reset()"
            )
        buffer = buffer.to(dtype=jacobian.dtype, device=jacobian.device).clone()
        idx = self.present.to(jacobian.device)
        original, saved = self.grad_buffer, self.present
        self.grad_buffer, self.present = buffer[idx], None
        try:
            d = self.direction(jacobian, losses)
        except Exception:
            self.grad_buffer = original  # a failed step leaves the state as it was
            raise
        finally:
            self.present = saved
        buffer[idx] = self.grad_buffer
        self.grad_buffer = buffer
        return d

    def extra_repr(self) -> str:
        return f"beta={self.beta}, beta_sigma={self.beta_sigma}"
