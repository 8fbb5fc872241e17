"""MoCo: multi-objective gradient descent with tracked (bias-corrected) task gradients."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from multitask.core.solvers import project_simplex
from multitask.methods.base import GradientMethod, register_method


@register_method("moco")
class MoCo(GradientMethod):
    r"""Multi-objective gradient with Correction (MoCo).

    Fernando, Shen, Liu, Chaudhury, Murugesan, Chen. Mitigating Gradient Bias in Multi-objective
    Learning: A Provably Convergent Approach. ICLR 2023.

    Stochastic gradients make MGDA's weights biased; MoCo tracks each task gradient with a moving
    estimate $Y$ and updates the weights $\lambda$ by one gradient step on
    $\frac12 \lambda^\top (Y Y^\top + \rho I) \lambda$ instead of solving the min-norm problem exactly. By
    default this follows the authors' code (shared by H. Fernando and shipped as LibMTL's ``MoCo``). At step
    $k = 1, 2, \dots$:

    * rows $h_i = L_i g_i / (\|g_i\| + 10^{-8})$: each task gradient rescaled to norm $L_i$ (its loss value);
    * $Y \leftarrow Y - \beta_k (Y - H)$ with $\beta_k = \beta / k^{\sigma_\beta}$ ($Y = 0$ before the first
      step);
    * $\lambda \leftarrow \operatorname{softmax}\big(\lambda - \gamma_k (Y Y^\top + \rho I) \lambda\big)$ with
      $\gamma_k = \gamma / k^{\sigma_\gamma}$ ($\lambda = 1/T$ before the first step);
    * direction $d = Y^\top \lambda$.

    Because the rows are normalised to the loss values, ``λ`` does not depend on the gradients' scale,
    and the softmax keeps every ``λᵢ > 0``.

    Variant (``normalize=False, lambda_update="projection"``): the paper's Algorithm 1 as written, with
    the raw gradients $H = J$ and the Euclidean projection $\Pi_\Delta$ onto the simplex in place of the
    softmax. Its ``λ`` depends on the gradients' scale (with large gradient norms one projected step
    lands on a vertex of the simplex), which is why the authors' code is the default. The two switches
    are independent.

    ``d`` combines the tracked gradients, not the rows of this step's ``J``, so ``last_weights`` stays
    ``None``; ``lambd`` holds ``λ``. The paper also projects each ``yᵢ`` onto a bounded set for its
    analysis; like the authors' code, this implementation leaves ``Y`` unconstrained.

    State: ``Y`` (``tracked``, ``[T, n]``, created at the first step) and ``λ`` (``lambd``); both are
    saved by ``state_dict()``. A Jacobian with another number of tasks or columns raises ``ValueError``
    (call ``reset()`` after changing the model).

    Args:
        beta: ``β``, step size of the tracking update (default 0.5; all defaults are the authors' code's
            as shipped in LibMTL).
        beta_sigma: ``σ_β``, decay exponent of ``βₖ`` (default 0.5).
        gamma: ``γ``, step size of the ``λ`` update (default 0.1).
        gamma_sigma: ``σ_γ``, decay exponent of ``γₖ`` (default 0.5).
        rho: ``ρ ≥ 0``, ℓ2 regularisation of ``λ``'s sub-problem (default 0).
        normalize: rescale each row to ``Lᵢ gᵢ / (‖gᵢ‖ + 1e-8)`` first (default True, authors' code; it
            reads the loss values).
        lambda_update: ``"softmax"`` (default, authors' code) or ``"projection"`` (``Π_Δ``, the paper's
            Algorithm 1).
    Modes: parameters only (see ``features_error``).
    """

    needs = "jacobian"
    supports_features = False
    features_error = (
        "MoCo tracks each task gradient across steps (Y ← Y − β(Y − J)); gradients with respect to the "
        "shared representation belong to a different batch at every step, so tracking them has no "
        "meaning (the authors' code rejects representation gradients too). Use parameters mode."
    )
    _state_attrs = ("tracked", "lambd")
    supports_absent = True  # partial labels: see _partial_direction

    def __init__(
        self,
        beta: float = 0.5,
        beta_sigma: float = 0.5,
        gamma: float = 0.1,
        gamma_sigma: float = 0.5,
        rho: float = 0.0,
        normalize: bool = True,
        lambda_update: str = "softmax",
    ) -> None:
        super().__init__()
        for name, value, upper in (("beta", beta, 1.0), ("gamma", gamma, math.inf)):
            if not (isinstance(value, (int, float)) and 0.0 < value <= upper and math.isfinite(value)):
                bound = "(0, 1]" if upper == 1.0 else "a finite number > 0"
                raise ValueError(f"MoCo: {name} must be {bound}, got {value!r}")
        for name, value in (("beta_sigma", beta_sigma), ("gamma_sigma", gamma_sigma), ("rho", rho)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"MoCo: {name} must be a finite number >= 0, got {value!r}")
        if lambda_update not in ("softmax", "projection"):
            raise ValueError(
                f"MoCo: lambda_update must be 'softmax' (authors' code) or 'projection' (paper), "
                f"got {lambda_update!r}"
            )
        self.beta = float(beta)
        self.beta_sigma = float(beta_sigma)
        self.gamma = float(gamma)
        self.gamma_sigma = float(gamma_sigma)
        self.rho = float(rho)
        self.normalize = bool(normalize)
        self.lambda_update = lambda_update
        self.uses_losses = self.normalize  # type: ignore[misc]  (per instance: only the normalised variant)
        self.tracked: Tensor | None = None
        self.lambd: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.tracked = None
        self.lambd = None

    def direction(self, jacobian: Tensor, losses: Tensor | None = None) -> Tensor:
        if self.present is not None:
            return self._partial_direction(jacobian, losses)
        t, n = jacobian.shape
        rows = jacobian.detach()
        if self.normalize:
            if losses is None:
                raise ValueError(
                    "MoCo(normalize=True) (the default) needs the loss values: call aggregate(J, losses)"
                )
            losses = torch.as_tensor(losses, dtype=rows.dtype, device=rows.device).detach()
            rows = rows / (torch.linalg.vector_norm(rows, dim=1, keepdim=True) + 1e-8) * losses[:, None]
        tracked, lambd = self._current_state(t, n, rows)
        k = self.step_count + 1
        beta_k = self.beta / k**self.beta_sigma
        gamma_k = self.gamma / k**self.gamma_sigma
        tracked = tracked - beta_k * (tracked - rows)
        gram = (tracked @ tracked.T).to(lambd.dtype)
        gram = 0.5 * (gram + gram.T)
        step = gram @ lambd + self.rho * lambd
        raw = lambd - gamma_k * step
        lambd = torch.softmax(raw, dim=0) if self.lambda_update == "softmax" else project_simplex(raw)
        self.tracked = tracked
        self.lambd = lambd
        self.last_weights = None
        return lambd.to(tracked.dtype) @ tracked

    def _partial_direction(self, jacobian: Tensor, losses: Tensor | None) -> Tensor:
        """Partial labels: MoCo's step on the present tasks' rows of ``Y`` and their share of ``λ``.

        The absent tasks' tracked gradients and ``λ`` entries wait unchanged; the present tasks' ``λ``
        (renormalised to the simplex) takes the step and is stored back scaled to its previous mass, so
        the full ``λ`` stays on the simplex.
        """
        assert self.present is not None
        full_t, n = int(self.total_tasks or jacobian.shape[0]), jacobian.shape[1]
        tracked, lambd = self._current_state(full_t, n, jacobian.detach())
        idx = self.present.to(jacobian.device)
        sub_tracked, sub_lambd = tracked[idx], lambd[idx]
        mass = sub_lambd.sum()
        original = (self.tracked, self.lambd)
        self.tracked, self.lambd = sub_tracked, sub_lambd / mass.clamp_min(torch.finfo(mass.dtype).tiny)
        self.present, saved = None, self.present  # the full rule on the present tasks
        try:
            d = self.direction(jacobian, losses)
        except Exception:
            self.tracked, self.lambd = original  # a failed step leaves the state as it was
            raise
        finally:
            self.present = saved
        tracked[idx] = self.tracked.to(tracked.dtype)
        lambd[idx] = self.lambd * mass
        self.tracked, self.lambd = tracked, lambd
        return d

    def _current_state(self, t: int, n: int, like: Tensor) -> tuple[Tensor, Tensor]:
        work = torch.float32 if like.device.type == "mps" else torch.float64
        tracked, lambd = self.tracked, self.lambd
        if tracked is None:
            tracked = like.new_zeros((t, n))
        elif tuple(tracked.shape) != (t, n):
            raise ValueError(
                f"MoCo: the Jacobian has shape {(t, n)} but the tracked gradients Y have shape "
                f"{tuple(tracked.shape)} (the tasks or shared parameters changed); call reset()"
            )
        if lambd is None:
            lambd = torch.full((t,), 1.0 / t, dtype=work, device=like.device)
        elif tuple(lambd.shape) != (t,):
            raise ValueError(f"MoCo: λ has shape {tuple(lambd.shape)} but the Jacobian has {t} tasks")
        return tracked.to(dtype=like.dtype, device=like.device), lambd.to(dtype=work, device=like.device)

    def extra_repr(self) -> str:
        return (
            f"beta={self.beta}, beta_sigma={self.beta_sigma}, gamma={self.gamma}, "
            f"gamma_sigma={self.gamma_sigma}, rho={self.rho}, normalize={self.normalize}, "
            f"lambda_update={self.lambda_update!r}"
        )
