"""Routing networks: per-task routers pick one function block per depth, trained by reinforcement."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    build_backbone,
    build_heads,
    check_tasks,
    parameters_of,
    to_size,
)
from multitask.models.base import MultiTaskModel, register_model
from multitask.models.sharing._common import check_positive
from multitask.models.sharing.soft_ordering import pool_layer


@register_model("routing")
class RoutingNetwork(MultiTaskModel):
    """Routing network with task-based routing.

    Rosenbaum, Klinger, Riemer. Routing Networks: Adaptive Selection of Non-linear Functions for
    Multi-Task Learning. ICLR 2018.

    After the shared backbone, ``depth`` routing steps each hold a pool of ``num_blocks`` function
    blocks (``conv3x3-BN-ReLU`` on maps, ``linear-ReLU`` on vectors, width of the backbone output). At
    step ``d`` the router of task ``t`` (one agent per task, the paper's multi-agent setting with the
    task as the router's state) picks block ``a_{t,d} ~ π_{t,d} = softmax(θ_{t,d})`` in training (the
    argmax in eval); ``ŷ_t = head_t(f_{a_{t,D}} ∘ ... ∘ f_{a_{t,1}}(backbone(x)))``. Tasks routed through
    the same blocks share them (the computation is shared too).

    The blocks and heads learn by back-propagation along the chosen routes; the routers by REINFORCE:
    the final reward of task ``t``'s episode is ``-L_t`` (its batch loss, handed over through
    ``on_losses``; the authors' code's ``NegLossReward``) plus the collaboration reward
    ``ρ · h_d(a_{t,d})`` at each step, with ``h_d(a)`` the fraction of this step's routes (all tasks)
    through block ``a`` at step ``d`` (the code's ``CollaborationReward``). With the return
    ``G_{t,d} = -L_t + ρ sum_{d' >= d} h_{d'}(a_{t,d'})`` and ``b_t`` a running mean of ``-L_t``,
    ``regularization()`` returns ``router_weight · sum_{t,d} -(G_{t,d} - b_t) log π_{t,d}(a_{t,d})``
    (the paper's best agents, WPL / tabular Q-learning, are replaced by this policy gradient; the reward
    is the loss rather than the paper's ±1 accuracy reward, for any task kind).

    Training-loop hooks: ``on_losses(losses)`` after each training forward, before ``regularization()``.
    Without it the routers stay at their initial (uniform) policy and the network trains as a random
    routing over the pool.

    Partition (it follows the routes of the last forward, the argmax routes before any): the backbone
    and the blocks on two or more routes are shared; task ``t`` owns its router logits, its head and the
    blocks only its route visits. Blocks on no route get no gradient in that step (hard routing); they
    are listed with task 0's parameters, so that every parameter has one owner and the shared ones are
    all reached by some loss (as ``multitask.backward`` requires).

    Args:
        tasks: the tasks.
        backbone: a registered backbone name or a built backbone (shared).
        in_channels: input channels (when the backbone is given by name).
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        num_blocks: function blocks per routing step.
        depth: routing steps.
        collaboration: ``ρ`` (paper: a small positive reward; 0 disables it).
        router_weight: weight of the REINFORCE surrogate in ``regularization()``.
        momentum: of the running baseline.
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec,
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        num_blocks: int = 4,
        depth: int = 2,
        collaboration: float = 0.1,
        router_weight: float = 1.0,
        momentum: float = 0.9,
    ) -> None:
        super().__init__(tasks)
        check_positive("routing", "num_blocks", num_blocks, integer=True)
        check_positive("routing", "depth", depth, integer=True)
        for field, value in (("collaboration", collaboration), ("router_weight", router_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"routing: {field} must be a number >= 0, got {value!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"routing: momentum must be in [0, 1), got {momentum!r}")
        self.backbone = build_backbone(backbone, in_channels, backbone_kwargs)
        check_tasks(self.tasks, self.backbone, "routing")
        width, dense = self.backbone.out_channels, self.backbone.is_dense
        self.blocks = nn.ModuleList(
            nn.ModuleList(pool_layer(width, dense, 0.0) for _ in range(num_blocks)) for _ in range(depth)
        )
        self.router = nn.ParameterList(nn.Parameter(torch.zeros(depth, num_blocks)) for _ in self.tasks)
        self.heads = build_heads(self.tasks, width, head)
        self.depth, self.num_blocks = int(depth), int(num_blocks)
        self.collaboration = float(collaboration)
        self.router_weight = float(router_weight)
        self.momentum = float(momentum)
        n = len(self.tasks)
        self.register_buffer("baseline", torch.zeros(n))
        self.register_buffer("baseline_ready", torch.zeros(n, dtype=torch.bool))
        self._routes: Tensor | None = None
        self._last_routes: Tensor | None = None
        self._rewards: Tensor | None = None

    def policy(self, task: str | int) -> Tensor:
        """``[depth, num_blocks]`` routing probabilities of a task."""
        t = task if isinstance(task, int) else self.task_names.index(task)
        return torch.softmax(self.router[t], dim=-1)

    def routes(self) -> Tensor:
        """``[T, depth]`` block indices: the routes of the last training forward, else the argmax routes."""
        if self._routes is not None:
            return self._routes.clone()
        return torch.stack([lg.argmax(-1) for lg in self.router]).detach()

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.backbone.check_input(x)
        if self.training:
            with torch.no_grad():
                routes = torch.stack(
                    [torch.multinomial(self.policy(t), 1).flatten() for t in range(len(self.tasks))]
                )
            self._routes, self._rewards = routes, None
        else:
            self._routes = None
            routes = self.routes()
        self._last_routes = routes
        z = self.backbone(x)
        cache: dict[tuple[int, ...], Tensor] = {(): z}
        preds = {}
        for t, (task, head) in enumerate(zip(self.tasks, self.heads)):
            path: tuple[int, ...] = ()
            for d in range(self.depth):
                key = (*path, int(routes[t, d]))
                if key not in cache:
                    cache[key] = self.blocks[d][key[-1]](cache[path])
                path = key
            preds[task.name] = to_size(task, head(cache[path]), x.shape[-2:])
        return preds

    def on_losses(self, losses: Mapping[str, Tensor]) -> None:
        missing = set(self.task_names) - set(losses)
        if missing:
            raise ValueError(f"routing: on_losses needs every task's loss; missing {sorted(missing)}")
        if self._routes is None:
            return
        values = torch.stack([torch.as_tensor(losses[n]).detach().float().mean() for n in self.task_names])
        if not torch.isfinite(values).all():
            raise ValueError(f"routing: non-finite task loss in on_losses: {values.tolist()}")
        self._rewards = -values.to(self.baseline.device)

    def regularization(self) -> Tensor | None:
        """The routers' REINFORCE surrogate for the last training forward (after ``on_losses``)."""
        if self._routes is None or self._rewards is None or self.router_weight == 0:
            return None
        routes, rewards = self._routes.to(self.baseline.device), self._rewards
        self._rewards = None
        steps = torch.arange(self.depth, device=routes.device)
        share = torch.zeros(self.depth, self.num_blocks, device=routes.device)
        share.scatter_add_(1, routes.T, torch.ones(routes.T.shape, device=routes.device))
        share /= len(self.tasks)  # fraction of this step's routes through each block
        bonus = self.collaboration * share[steps, routes]  # [T, depth]
        returns = rewards[:, None] + bonus.flip(1).cumsum(1).flip(1)
        baseline = torch.where(self.baseline_ready, self.baseline, rewards)
        advantage = returns - baseline[:, None]
        logp = torch.stack([torch.log_softmax(lg, -1)[steps, routes[t]] for t, lg in enumerate(self.router)])
        surrogate = -(advantage * logp).sum()
        with torch.no_grad():
            m = self.momentum
            self.baseline.copy_(m * baseline + (1 - m) * rewards)
            self.baseline_ready.fill_(True)
        return self.router_weight * surrogate

    def _block_owner(self) -> dict[tuple[int, int], int | None]:
        """``{(step, block): owner}`` for the routes of the last forward: ``None`` (shared) for a block on
        two or more routes, the task for a block on one route; blocks on no route go to task 0."""
        routes = self._last_routes
        if routes is None:  # no forward yet: the argmax routes (all block 0 when built on the meta device)
            meta = self.router[0].device.type == "meta"
            routes = torch.zeros(len(self.tasks), self.depth, dtype=torch.long) if meta else self.routes()
        routes = routes.cpu()
        owner: dict[tuple[int, int], int | None] = {}
        for d in range(self.depth):
            for k in range(self.num_blocks):
                users = (routes[:, d] == k).nonzero().flatten().tolist()
                owner[(d, k)] = None if len(users) > 1 else (users[0] if users else 0)
        return owner

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        owner = self._block_owner()
        shared = [self.blocks[d][k] for (d, k), o in owner.items() if o is None]
        return parameters_of([self.backbone, *shared])

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        t = self.task_names.index(task)
        own = [self.blocks[d][k] for (d, k), o in self._block_owner().items() if o == t]
        return parameters_of([*own, self.router[t], self.heads[t]])
