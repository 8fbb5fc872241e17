"""Nash-MTL: the Nash bargaining solution among the tasks, ``G α = 1/α``."""

from __future__ import annotations

import math

from torch import Tensor

from multitask.core.gramian import check_gramian, clip_weights
from multitask.core.solvers import normalized_fair_weights
from multitask.methods.base import GradientMethod, register_method


@register_method("nash_mtl")
class NashMTL(GradientMethod):
    r"""Multi-task learning as a bargaining game (Nash-MTL).

    Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya. Multi-Task Learning as a Bargaining
    Game. ICML 2022.

    The update $d = \sum_i \alpha_i g_i$ is the Nash bargaining solution
    $\arg\max_{\|d\| \le \varepsilon} \sum_i \log(g_i^\top d)$; its optimality condition (paper, Section 3) is

    $$
    (G \alpha)_i = \frac{1}{\alpha_i} \quad \text{for every task } i \qquad (G = J J^\top, \ \alpha > 0),
    $$

    which makes $\|d\|^2 = \alpha^\top G \alpha = T$ and $g_i^\top d = 1 / \alpha_i > 0$. The paper
    approximates the solution with a sequence of convex problems (CCP, ``optim_niter`` of them, solved by
    cvxpy/ECOS). Here the same point is computed directly: it is the unique minimiser of the strictly convex
    $\frac12 \alpha^\top G \alpha - \sum_i \log \alpha_i$, found by damped Newton steps in torch (see
    :func:`multitask.core.solvers.alpha_fair_weights` with ``α_fair = 1``), warm-started
    from the previous solution like the paper's solver; the condition then holds to ~1e-12 (relative)
    on nonsingular Gramians. A relative ridge ``eps`` keeps singular Gramians (collinear or opposite
    gradients, where no bargaining solution exists) solvable; tasks with an exactly zero gradient get
    weight 0.

    As in the official code, the weights are recomputed every ``update_weights_every`` steps (reused in
    between) and the update is clipped to norm ``max_norm`` (``clip_grad_norm_`` of the shared
    parameters in the paper's code; here the weights are scaled so that ``‖Jᵀα‖ ≤ max_norm``). Since
    ``‖d‖ = √T``, the default clipping gives every step norm 1.

    Args:
        max_norm: clip the update's norm to this (paper default 1.0; 0 disables).
        update_weights_every: recompute the weights every this many steps (paper default 1).
        optim_niter: cap on solver iterations per update (paper default 20 CCP iterations; here Newton
            iterations, which converge in far fewer on well-posed problems).
        eps: relative ridge on the normalised Gramian (default 1e-8).
    Modes: parameters, features (in features mode ``max_norm`` clips the representation gradient).
    State: the previous solution (warm start and reuse) and the step counter.
    """

    needs = "gramian"
    _state_attrs = ("prev_solution", "prev_weights", "prev_present")
    supports_absent = True
    _optional_state = ("prev_present",)

    def __init__(
        self,
        max_norm: float = 1.0,
        update_weights_every: int = 1,
        optim_niter: int = 20,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        if not (isinstance(max_norm, (int, float)) and math.isfinite(max_norm) and max_norm >= 0):
            raise ValueError(f"NashMTL: max_norm must be a finite number >= 0, got {max_norm!r}")
        if isinstance(update_weights_every, bool) or int(update_weights_every) < 1:
            raise ValueError(
                f"NashMTL: update_weights_every must be an int >= 1, got {update_weights_every!r}"
            )
        if int(optim_niter) < 1:
            raise ValueError(f"NashMTL: optim_niter must be >= 1, got {optim_niter!r}")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
            raise ValueError(f"NashMTL: eps must be a finite number >= 0, got {eps!r}")
        self.max_norm = float(max_norm)
        self.update_weights_every = int(update_weights_every)
        self.optim_niter = int(optim_niter)
        self.eps = float(eps)
        #: solution for the normalised Gramian ``G / max(diag G)`` (warm start of the next solve)
        self.prev_solution: Tensor | None = None
        #: the unclipped ``α`` for ``G`` of the last update (reused between updates)
        self.prev_weights: Tensor | None = None
        #: partial labels: task indices of the last solve when tasks were absent from it (``None``: all)
        self.prev_present: list[int] | None = None

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        t = gramian.shape[0]
        present = None if self.present is None else [int(i) for i in self.present]
        if present is None and self.prev_present is None:
            if self.prev_weights is not None and self.prev_weights.shape != (t,):
                raise ValueError(
                    f"NashMTL: the number of tasks changed from {self.prev_weights.shape[0]} to {t}; "
                    "call reset()"
                )
        same_tasks = present == self.prev_present  # partial labels: reuse/warm-start on the same tasks only
        due = self.step_count % self.update_weights_every == 0
        if due or self.prev_weights is None or not same_tasks:
            sol, scale = normalized_fair_weights(
                gramian,
                1.0,
                eps=self.eps,
                max_iter=self.optim_niter,
                init=self.prev_solution if same_tasks else None,
            )
            self.prev_solution = sol.detach().cpu()
            alpha = sol * scale**-0.5 if scale > 0 else sol
            self.prev_weights = alpha.to(gramian.dtype).detach().cpu()
            self.prev_present = present
        alpha = self.prev_weights.to(device=gramian.device, dtype=gramian.dtype)
        return clip_weights(alpha, gramian, self.max_norm)

    def reset(self) -> None:
        super().reset()
        self.prev_solution = None
        self.prev_weights = None
        self.prev_present = None

    def extra_repr(self) -> str:
        return (
            f"max_norm={self.max_norm}, update_weights_every={self.update_weights_every}, "
            f"optim_niter={self.optim_niter}"
        )
