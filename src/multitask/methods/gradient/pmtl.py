"""Pareto MTL: one constrained MGDA run per preference vector, spreading the solutions over the front."""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

from multitask.core.gramian import check_gramian, work_gramian
from multitask.core.solvers import min_norm_weights
from multitask.methods.base import GradientMethod, register_method

__all__ = ["PMTL", "pmtl_preferences"]


def pmtl_preferences(num_tasks: int, k: int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    """``k`` evenly spread unit preference vectors in the positive orthant of ``R^T`` (``[k, T]``).

    * ``T = 2``: the official code's ``circle_points``: angles ``linspace(0, π/2, k)``, i.e.
      ``uᵢ = (cos tᵢ, sin tᵢ)`` from ``(1, 0)`` to ``(0, 1)``.
    * ``T > 2``: the Das–Dennis simplex lattice ``{h/H : h ∈ ℕ^T, Σh = H}`` with the smallest ``H`` giving
      at least ``k`` points, normalised to unit length; when it has more than ``k`` points, the unit
      vectors ``eₜ`` are taken first and then, greedily, the lattice point farthest (in angle) from
      those already chosen (ties: lattice order), so the set is deterministic.
    * ``k = 1``: the diagonal ``(1, …, 1)/√T``; ``T = 1``: ``(1)``.
    """
    for name, value in (("num_tasks", num_tasks), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"pmtl_preferences: {name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"pmtl_preferences: {name} must be >= 1, got {value}")
    t = num_tasks
    if t == 1:
        return torch.ones(k, 1, dtype=dtype)
    if k == 1:
        return torch.full((1, t), 1.0 / math.sqrt(t), dtype=dtype)
    if t == 2:
        angles = torch.linspace(0.0, 0.5 * math.pi, k, dtype=torch.float64)
        return torch.stack([torch.cos(angles), torch.sin(angles)], dim=1).to(dtype)
    h = 1
    while math.comb(h + t - 1, t - 1) < k:
        h += 1
    lattice = torch.tensor(
        [c for c in itertools.product(range(h + 1), repeat=t) if sum(c) == h], dtype=torch.float64
    ).flip(0)  # lexicographically decreasing: e₁ first
    units = lattice / torch.linalg.vector_norm(lattice, dim=1, keepdim=True)
    if units.shape[0] == k:
        return units.to(dtype)
    is_vertex = (lattice == h).any(dim=1)
    chosen = [int(i) for i in is_vertex.nonzero().flatten()][:k]
    while len(chosen) < k:
        cos = (units @ units[chosen].T).clamp(-1.0, 1.0).amax(dim=1)
        cos[chosen] = 2.0
        chosen.append(int(torch.argmin(cos)))
    return units[chosen].to(dtype)


@register_method("pmtl")
class PMTL(GradientMethod):
    r"""Pareto Multi-Task Learning.

    Lin, Zhen, Li, Zhang, Kwong. Pareto Multi-Task Learning. NeurIPS 2019.

    The objective space is split by $K$ evenly spread unit preference vectors $u_1, \dots, u_K$
    (:func:`pmtl_preferences`). The run for preference $k$ looks for a Pareto-stationary point inside
    the cone of $u_k$:

    $$
    \min_\theta L(\theta) \quad \text{s.t.} \quad G_j(\theta) = (u_j - u_k)^\top L(\theta) \le 0
    \quad \text{for all } j \ne k
    $$

    ($L$ the loss vector; as in the official code the activity test uses $L / \|L\|$, and
    constraint $j$ is active when $G_j > 0$). With $\nabla G_j = \sum_i (u_j - u_k)_i \, g_i$:

    * warm-up (until a feasible point is reached, at most ``warmup_steps`` steps): descend the violated
      constraints only: $d = \sum_{j \text{ active}} \lambda_j \nabla G_j$ with $\lambda$ the min-norm weights
      of the $\nabla G_j$ ($\lambda = 1$ for a single one; not rescaled, as in the official code); no active
      constraint ends the warm-up;
    * main phase: $\lambda$ = min-norm weights of $\{g_1, \dots, g_T\} \cup \{\nabla G_j : j \text{ active}\}$
      (the dual of the paper's constrained QP $\min_{d, \alpha} \alpha + \frac12 \|d\|^2$ s.t.
      $g_i^\top d \le \alpha$, $\nabla G_j^\top d \le \alpha$), then

    $$
    w_i = \lambda_i + \sum_j \lambda_j (u_j - u_k)_i, \qquad
    w \leftarrow \frac{T w}{\sum_i |w_i|} \ (\text{official code}), \qquad d = \sum_i w_i g_i
    $$

    (the QP's descent step is $-d$ up to that positive factor; the optimizer subtracts $d$).

    A run ends with its loss vector inside the cone of ``u_k`` (closer in angle to ``u_k`` than to any other
    ``u_j``): with ``u₀ = e₁`` the solution accepts the largest ``L₁`` relative to the other losses, with
    ``u_{K−1} = e_T`` the largest ``L_T``.

    The min-norm element of that hull has a positive inner product with every vector of the hull unless
    it is zero, so ``d`` reduces every task loss and every violated ``G_j`` to first order. Everything is
    computed from the Gramian (``M G Mᵀ`` with ``M = [I; U_active − 1u_kᵀ]``), so the engine never
    builds ``J``.

    A set of models spread over the Pareto front is ``K`` independent runs, one per preference index
    (the bench can then draw the front from their validation losses); a sketch, with ``make_model``,
    ``loader``, ``loss_fn`` and ``evaluate`` your own::

        fronts = []
        for k in range(5):
            torch.manual_seed(0)
            enc, heads = make_model()
            method = PMTL(num_tasks=2, preference_index=k, num_preferences=5)
            opt = torch.optim.SGD([*enc.parameters(), *heads.parameters()], lr=0.1)
            for x, ys in loader:
                z = enc(x)
                losses = {f"t{i}": loss_fn(h(z), y) for i, (h, y) in enumerate(zip(heads, ys))}
                multitask.backward(losses, method, shared=enc.parameters())
                opt.step(); opt.zero_grad()
            fronts.append(evaluate(enc, heads))   # one point of the front per preference

    Args:
        num_tasks: ``T`` (required: the preference vectors live in ``R^T``; ``create_method("pmtl",
            num_tasks=T)``; the trainer fills it in).
        preference_index: ``k`` in ``0 … num_preferences − 1``. Default ``None``: the middle preference,
            the ``u_k`` closest in angle to the diagonal ``(1, …, 1)/√T`` (lowest index on ties;
            ``k = K // 2`` for two tasks and odd ``K``, i.e. ``u = (1, 1)/√2`` for ``K = 5``), so a
            single run targets a balanced trade-off. ``k = 0`` is the corner ``u₀ = e₁``, which accepts
            the largest ``L₁``; spread several runs over ``k`` to draw the front.
        num_preferences: ``K`` (official code default 5).
        warmup_steps: cap on the warm-up steps (the official code allows at most two epochs and stops at
            the first feasible point, "usually a few steps"; default 100).
        max_iter: cap on the min-norm solver's iterations.
    Modes: parameters, features. Reads the loss values (``uses_losses``).
    """

    needs = "gramian"
    uses_losses = True
    _state_attrs = ("in_warmup",)

    def __init__(
        self,
        num_tasks: int | None = None,
        preference_index: int | None = None,
        num_preferences: int = 5,
        warmup_steps: int = 100,
        max_iter: int = 250,
    ) -> None:
        super().__init__()
        if num_tasks is None:
            raise TypeError(
                "PMTL needs num_tasks=T, the number of tasks (its preference vectors live in R^T): "
                "PMTL(num_tasks=T) or create_method('pmtl', num_tasks=T)"
            )
        if preference_index is None and not isinstance(num_preferences, bool) and isinstance(num_tasks, int):
            if isinstance(num_preferences, int) and num_preferences >= 1 and num_tasks >= 1:
                prefs = pmtl_preferences(num_tasks, num_preferences)
                diagonal = torch.full((num_tasks,), num_tasks**-0.5, dtype=prefs.dtype)
                cos = prefs @ diagonal
                preference_index = int((cos >= cos.max() - 1e-12).nonzero()[0])  # ties: lowest index
        for name, value, low in (
            ("num_tasks", num_tasks, 1),
            ("num_preferences", num_preferences, 1),
            ("preference_index", preference_index, 0),
            ("warmup_steps", warmup_steps, 0),
            ("max_iter", max_iter, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"PMTL: {name} must be an int, got {type(value).__name__}")
            if value < low:
                raise ValueError(f"PMTL: {name} must be >= {low}, got {value}")
        if preference_index >= num_preferences:
            raise ValueError(
                f"PMTL: preference_index must lie in [0, {num_preferences - 1}], got {preference_index}"
            )
        self.num_tasks = num_tasks
        self.preference_index = preference_index
        self.num_preferences = num_preferences
        self.warmup_steps = warmup_steps
        self.max_iter = max_iter
        self.preferences = pmtl_preferences(num_tasks, num_preferences)
        self.in_warmup = True
        #: ``G_j = (u_j − u_k)ᵀ L/‖L‖`` of the last call (``[K]``; entry ``k`` is 0)
        self.last_constraints: Tensor | None = None
        #: the active constraints of the last call (``[K]`` booleans)
        self.last_active: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.in_warmup = True
        self.last_constraints = None
        self.last_active = None

    @property
    def preference(self) -> Tensor:
        """This run's preference vector ``u_k``."""
        return self.preferences[self.preference_index]

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        gramian = check_gramian(gramian)
        t = gramian.shape[0]
        if t != self.num_tasks:
            raise ValueError(f"PMTL was built for {self.num_tasks} tasks but got a Gramian for {t}")
        if losses is None:
            raise ValueError("PMTL needs the loss values: call aggregate(J, losses)")
        g = work_gramian(gramian)
        work = g.dtype
        vec = torch.as_tensor(losses).detach().to(dtype=work, device=g.device).reshape(-1)
        if vec.shape != (t,):
            raise ValueError(f"PMTL: losses must have shape ({t},), got {tuple(vec.shape)}")
        u = self.preferences.to(dtype=work, device=g.device)
        diff = u - u[self.preference_index]  # [K, T]; row k is zero
        norm = torch.linalg.vector_norm(vec)
        constraints = (
            diff @ (vec / norm) if norm > 0 else torch.zeros(diff.shape[0], dtype=work, device=g.device)
        )
        active = constraints > 0
        self.last_constraints = constraints.to(gramian.dtype)
        self.last_active = active
        if self.in_warmup and self.step_count >= self.warmup_steps:
            self.in_warmup = False
        if self.in_warmup:
            if bool(active.any()):
                m = diff[active]
                lam = min_norm_weights(m @ g @ m.T, max_iter=self.max_iter)
                return (lam @ m).to(gramian.dtype)
            self.in_warmup = False  # feasible: the main phase starts at this very step
        m = torch.cat([torch.eye(t, dtype=work, device=g.device), diff[active]], dim=0)
        lam = min_norm_weights(m @ g @ m.T, max_iter=self.max_iter)
        w = lam @ m
        total = w.abs().sum()
        w = w * (t / total) if total > 0 else torch.zeros_like(w)
        return w.to(gramian.dtype)

    def extra_repr(self) -> str:
        return (
            f"num_tasks={self.num_tasks}, preference_index={self.preference_index}, "
            f"num_preferences={self.num_preferences}, warmup_steps={self.warmup_steps}"
        )
