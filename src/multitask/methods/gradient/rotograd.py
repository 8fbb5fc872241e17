"""RotoGrad: learnable per-task rotations of the shared representation, gradient magnitudes equalised."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from multitask.core.gramian import work_dtype
from multitask.methods.base import GradientMethod, register_method

PARAMETERIZATIONS = ("expm", "cayley")


@register_method("rotograd")
class RotoGrad(GradientMethod):
    r"""RotoGrad: gradient homogenisation in direction and magnitude.

    Javaloy & Valera. RotoGrad: Gradient Homogenization in Multitask Learning. ICLR 2022.

    Each task $k$ sees its own rotation of the shared representation, $z_k = R_k z$ (the first $r$
    coordinates of $z$'s last dimension are rotated, the rest pass through). With $g_k = \nabla_z L_k$
    (the rows of the features-mode Jacobian; $\nabla_{z_k} L_k = R_k g_k$):

    * magnitude: $n_k = \|g_k\|$; relative convergence $c_k = n_k / n_k^0$ ($n_k^0$ recorded at the first
      step and again at step ``burn_in_period``), $\alpha_k = c_k / \sum_j c_j$, common norm
      $C = \sum_k \alpha_k n_k$; the update sent into the encoder is $d = \sum_k (C / n_k) \, g_k$
      (``last_weights`` $= C / n$): every task pushes equally hard, and the tasks that have converged
      least set the common magnitude;
    * direction: with $v = \frac1T \sum_k (\|\bar g\| / n_k) \, g_k$ ($\bar g$ the mean gradient; $v$ held
      fixed), each rotation minimises $\ell_k(R_k) = \operatorname{mean}_b \|R_k v_b - \bar R_k g_{k,b}\|^2$
      ($b$ runs over the batch, $\bar R$ is the current rotation held fixed), which turns
      $R_k^\top \nabla_{z_k} L_k$ towards the common $v$: over time the task gradients reaching the encoder
      agree in direction.

    The rotation loss depends only on ``v``, ``g_k`` and ``R_k``, all known here, so it is computed inside
    :meth:`direction` and its gradient is **accumulated into the rotations' ``.grad``** (as in the
    official code, where it is a separate ``backward``); the task losses do not reach the rotations
    (:meth:`rotate` uses ``R_k`` detached). Give ``method.parameters()`` to an optimizer: as in the
    official code, best a separate one such as Adam, since the rotation loss scales with ``‖g‖²``
    (tiny for batch-mean losses), which plain SGD at the model's learning rate would barely move.

    $R_k = \exp(S_k)$ (``parameterization="expm"``, as in the official code) or the Cayley map
    $R_k = (I - S_k)^{-1} (I + S_k)$ of the skew-symmetric $S_k = U_k - U_k^\top$, $U_k$ the strict upper
    triangle of the free parameter $A_k$ (``[T, r, r]``); $A = 0$ gives $R_k = I$ at the start.

    The weights ``α_k`` are computed, not tuned: RotoGrad has no ``α`` hyper-parameter (the ``α`` of
    the official code's RotoGrad-Norm variant, which adds GradNorm's learnable weights, is not this
    method).

    Usage (features mode only)::

        import torch, multitask as mt
        from torch import nn
        from multitask.methods import RotoGrad
        torch.manual_seed(0)
        x, ys = torch.randn(32, 4), [torch.randn(32, 1) for _ in range(3)]
        encoder = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
        heads = nn.ModuleList(nn.Linear(8, 1) for _ in range(3))
        method = RotoGrad(num_tasks=3, dim=8)
        opt = torch.optim.SGD([*encoder.parameters(), *heads.parameters()], lr=0.05)
        opt_rot = torch.optim.Adam(method.parameters(), lr=1e-2)   # the rotations
        for _ in range(10):
            z = encoder(x)
            zs = method.rotate(z)                      # one rotated copy per task, between encoder and heads
            losses = {f"t{k}": nn.functional.mse_loss(heads[k](zs[k]), ys[k]) for k in range(3)}
            mt.backward(losses, method, shared=encoder.parameters(), features=z)
            opt.step(); opt_rot.step(); opt.zero_grad(); opt_rot.zero_grad()

    The Jacobian handed to :meth:`direction` must be taken w.r.t. the ``z`` last given to :meth:`rotate`
    (``features=z``); any other shape is refused, which is how parameters mode is detected.

    Args:
        num_tasks: ``T``.
        dim: size of the representation's last dimension.
        rotation_dim: ``r ≤ dim``, the number of leading coordinates rotated (default ``dim``; the paper
            rotates a subspace to save compute on wide representations).
        burn_in_period: step at which the reference norms ``n⁰`` are taken again (official default 20).
        parameterization: ``"expm"`` (default) or ``"cayley"``.
    Modes: features only (see ``parameters_error``).
    """

    needs = "jacobian"
    supports_features = True
    #: RotoGrad cannot run in parameters mode (read by the engine when it supports the flag)
    supports_parameters: ClassVar[bool] = False
    parameters_error: ClassVar[str] = (
        "RotoGrad rotates the shared representation and aligns the task gradients with respect to it; "
        "its update is defined on the representation, not on the shared parameters. Put "
        "method.rotate(z) between the encoder and the heads and call "
        "backward(losses, method, shared=encoder.parameters(), features=z)"
    )
    _state_attrs = ("initial_norms",)
    #: the trainer's hook: the heads see ``wrap_features(z) = rotate(z)``; the trainer passes ``dim``
    wraps_features: ClassVar[bool] = True

    def __init__(
        self,
        num_tasks: int,
        dim: int,
        rotation_dim: int | None = None,
        burn_in_period: int = 20,
        parameterization: str = "expm",
    ) -> None:
        super().__init__()
        r = dim if rotation_dim is None else rotation_dim
        for name, value, low in (
            ("num_tasks", num_tasks, 1),
            ("dim", dim, 1),
            ("rotation_dim", r, 1),
            ("burn_in_period", burn_in_period, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"RotoGrad: {name} must be an int, got {type(value).__name__}")
            if value < low:
                raise ValueError(f"RotoGrad: {name} must be >= {low}, got {value}")
        if r > dim:
            raise ValueError(f"RotoGrad: rotation_dim must be <= dim={dim}, got {r}")
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(
                f"RotoGrad: parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}"
            )
        self.num_tasks = num_tasks
        self.dim = dim
        self.rotation_dim = r
        self.burn_in_period = burn_in_period
        self.parameterization = parameterization
        #: free parameters ``A_k``; only their strict upper triangles are used
        self.skew = nn.Parameter(torch.zeros(num_tasks, r, r))
        self.initial_norms: Tensor | None = None
        #: the rotation loss ``Σ_k ℓ_k`` of the last step (for logging)
        self.last_rotation_loss: Tensor | None = None
        self._feature_shape: tuple[int, ...] | None = None

    def reset(self) -> None:
        super().reset()
        self.initial_norms = None
        self.last_rotation_loss = None

    # ---- rotations ---------------------------------------------------------------------------
    def rotations(self) -> Tensor:
        """The rotation matrices ``R`` (``[T, r, r]``, orthogonal, differentiable in the parameters)."""
        upper = torch.triu(self.skew, diagonal=1)
        s = upper - upper.transpose(-1, -2)
        if self.parameterization == "expm":
            return torch.linalg.matrix_exp(s)
        eye = torch.eye(self.rotation_dim, dtype=s.dtype, device=s.device).expand_as(s)
        return torch.linalg.solve(eye - s, eye + s)

    def rotate(self, z: Tensor) -> list[Tensor]:
        """One rotated copy ``z_k`` of the representation per task (``z``: ``[..., dim]``).

        The rotations enter detached: the task losses train the heads and the encoder, the rotations
        are trained by RotoGrad's own loss in :meth:`direction`.
        """
        if not isinstance(z, Tensor):
            raise TypeError(f"RotoGrad.rotate: z must be a tensor, got {type(z).__name__}")
        if z.dim() < 1 or z.shape[-1] != self.dim:
            raise ValueError(f"RotoGrad.rotate: z must have shape [..., {self.dim}], got {tuple(z.shape)}")
        self._feature_shape = tuple(z.shape)
        r = self.rotation_dim
        rots = self.rotations().detach().to(z.dtype)
        lo, hi = z[..., :r], z[..., r:]
        out = []
        for k in range(self.num_tasks):
            rotated = lo @ rots[k].T
            out.append(rotated if r == self.dim else torch.cat([rotated, hi], dim=-1))
        return out

    def wrap_features(self, z: Tensor) -> list[Tensor]:
        """The declared trainer hook (:attr:`GradientMethod.wraps_features`): :meth:`rotate`."""
        return self.rotate(z)

    # ---- the update --------------------------------------------------------------------------
    def direction(self, jacobian: Tensor, losses: Tensor | None = None) -> Tensor:
        t, n = jacobian.shape
        if t != self.num_tasks:
            raise ValueError(f"RotoGrad was built for {self.num_tasks} tasks but the Jacobian has {t} rows")
        if self._feature_shape is None or n != math.prod(self._feature_shape):
            seen = (
                "rotate() was never called"
                if self._feature_shape is None
                else f"the last rotate() saw z of shape {self._feature_shape}"
            )
            raise ValueError(f"RotoGrad got a Jacobian with {n} columns but {seen}. " + self.parameters_error)
        rows = jacobian.detach()
        norms = torch.linalg.vector_norm(rows, dim=1)
        nonzero = norms > 0
        safe = torch.where(nonzero, norms, torch.ones_like(norms))
        units = rows / safe[:, None] * nonzero[:, None].to(rows.dtype)
        self._rotation_step(rows.reshape(t, -1, self.dim), units)
        weights, common = self._magnitude_weights(norms)
        self.last_weights = weights
        return common * units.sum(dim=0)

    def _magnitude_weights(self, norms: Tensor) -> tuple[Tensor, Tensor]:
        """``(C / n, C)``; tasks without a gradient get weight 0."""
        work = work_dtype(norms.device)
        n = norms.to(work)
        initial = self.initial_norms
        if initial is None or self.step_count == self.burn_in_period:
            initial = n
        else:
            if initial.shape != n.shape:
                raise ValueError(
                    f"RotoGrad: {initial.shape[0]} stored norms for {n.shape[0]} tasks; call reset()"
                )
            initial = initial.to(dtype=work, device=n.device)
            initial = torch.where(initial > 0, initial, n)  # a task without gradient so far: start now
        self.initial_norms = initial
        ratio = torch.where(initial > 0, n / torch.where(initial > 0, initial, 1.0), 0.0)
        total = ratio.sum()
        alpha = ratio / total if total > 0 else torch.full_like(ratio, 1.0 / ratio.numel())
        common = (alpha * n).sum()
        w = torch.where(n > 0, common / torch.where(n > 0, n, 1.0), 0.0)
        return w.to(norms.dtype), common.to(norms.dtype)

    def _rotation_step(self, grads: Tensor, units: Tensor) -> None:
        """Accumulate ``∇_A Σ_k ℓ_k`` into ``self.skew.grad`` (``grads``: ``[T, B, dim]``)."""
        if not self.skew.requires_grad:
            self.last_rotation_loss = None
            return
        mean_norm = torch.linalg.vector_norm(grads.mean(dim=0))
        v = (mean_norm * units).mean(dim=0).reshape(-1, self.dim)  # [B, dim], held fixed
        r = self.rotation_dim
        dtype = self.skew.dtype
        v_lo = v[:, :r].to(dtype)
        g_lo = grads[..., :r].to(dtype)
        with torch.enable_grad():
            rots = self.rotations()
            fixed = rots.detach()
            target = torch.einsum("kij,kbj->kbi", fixed, g_lo)  # ∇_{z_k} L_k (rotated part)
            pred = torch.einsum("kij,bj->kbi", rots, v_lo)
            loss = ((pred - target) ** 2).sum(dim=-1).mean(dim=-1).sum()
            (grad,) = torch.autograd.grad(loss, self.skew)
        if not bool(torch.isfinite(grad).all()):
            raise ValueError(f"RotoGrad: the rotation loss {float(loss)} has a non-finite gradient")
        if self.skew.grad is None:
            self.skew.grad = grad.detach().clone()
        else:
            self.skew.grad.add_(grad.detach())
        self.last_rotation_loss = loss.detach()

    def extra_repr(self) -> str:
        return (
            f"num_tasks={self.num_tasks}, dim={self.dim}, rotation_dim={self.rotation_dim}, "
            f"burn_in_period={self.burn_in_period}, parameterization={self.parameterization!r}"
        )
