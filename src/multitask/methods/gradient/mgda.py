"""MGDA: the min-norm element of the convex hull of the task gradients."""

from __future__ import annotations

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian
from multitask.core.solvers import min_norm_weights
from multitask.methods.base import GradientMethod, register_method

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


@register_method("mgda")
class MGDA(GradientMethod):
    r"""Multiple-Gradient Descent Algorithm (MGDA / MGDA-UB).

    Sener & Koltun. Multi-Task Learning as Multi-Objective Optimization. NeurIPS 2018
    (after Désidéri, Comptes Rendus Mathématique 2012).

    Update rule:

    $$
    w = \arg\min_{w \in \Delta} \Big\|\sum_t w_t \hat g_t\Big\|^2, \qquad \hat g_t = \frac{g_t}{n_t}, \qquad
    d = \sum_t w_t g_t
    $$

    ($\Delta$ the simplex; the weights found on the normalised gradients multiply the original ones, as in
    the paper's code). Normalisers $n_t$ (``normalization``, from the paper's code
    ``gradient_normalizers``): ``"none"``: 1 (default; the exact min-norm element); ``"l2"``: $\|g_t\|$;
    ``"loss"``: $L_t$; ``"loss+"``: $L_t \|g_t\|$. The loss-based ones read the loss values
    (``aggregate(J, losses)``) and need positive losses.

    The min-norm problem is solved exactly (closed form for two tasks, Wolfe's active-set algorithm
    otherwise; see :func:`multitask.core.solvers.min_norm_weights`) instead of the paper's Frank–Wolfe
    iterations, which approximate the same point. With ``normalization="none"`` the direction has a
    non-negative inner product with every task gradient (it is zero exactly when 0 lies in the hull:
    a Pareto-stationary point).

    Args:
        normalization: one of ``"none"`` (default, as in LibMTL), ``"l2"``, ``"loss"``, ``"loss+"``.
        max_iter: cap on the solver's iterations (paper's Frank–Wolfe used 250).
        tol: the solver's relative stopping tolerance.
    Modes: parameters, features (features mode with the Gramian of the representation gradients is the
    paper's MGDA-UB).
    """

    needs = "gramian"

    def __init__(self, normalization: str = "none", max_iter: int = 250, tol: float = 1e-7) -> None:
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"MGDA: normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if int(max_iter) < 1:
            raise ValueError(f"MGDA: max_iter must be >= 1, got {max_iter}")
        if not tol > 0:
            raise ValueError(f"MGDA: tol must be > 0, got {tol}")
        self.normalization = normalization
        self.max_iter = int(max_iter)
        self.tol = float(tol)
        # instance attribute: only the loss-based normalisations read the loss values
        self.uses_losses = normalization in ("loss", "loss+")  # type: ignore[misc]

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        norms = self._normalizers(gramian, losses)
        if norms is not None:
            gramian = gramian / (norms[:, None] * norms[None, :])
        return min_norm_weights(gramian, max_iter=self.max_iter, tol=self.tol)

    def _normalizers(self, gramian: Tensor, losses: Tensor | None) -> Tensor | None:
        if self.normalization == "none":
            return None
        grad_norm = gramian.diagonal().clamp_min(0.0).sqrt()
        ones = torch.ones_like(grad_norm)
        if self.normalization == "l2":
            # a zero gradient stays zero after normalisation (and then MGDA's min-norm point is 0)
            return torch.where(grad_norm > 0, grad_norm, ones)
        if losses is None:
            raise ValueError(f"MGDA(normalization={self.normalization!r}) needs the loss values")
        losses = losses.to(gramian.dtype)
        if losses.shape != (gramian.shape[0],):
            raise ValueError(f"MGDA: losses must have shape ({gramian.shape[0]},), got {tuple(losses.shape)}")
        bad = (~(losses > 0)).nonzero().flatten().tolist()
        if bad:
            raise ValueError(
                f"MGDA(normalization={self.normalization!r}) needs positive losses; tasks {bad} have "
                f"{losses[bad].tolist()}"
            )
        if self.normalization == "loss":
            return losses
        return torch.where(grad_norm > 0, losses * grad_norm, ones)

    def extra_repr(self) -> str:
        return f"normalization={self.normalization!r}"
