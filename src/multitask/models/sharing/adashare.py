"""AdaShare: a per-task select-or-skip policy over the backbone's blocks, learned with Gumbel-softmax."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from multitask.core.tasks import Task
from multitask.models.architectures._common import (
    BackboneSpec,
    HeadSpec,
    backbone_name,
    build_backbone,
    build_heads,
    check_tasks,
    parameters_of,
    to_size,
)
from multitask.models.backbones import new_context
from multitask.models.base import register_model
from multitask.models.sharing._common import AnnealedSearch, check_positive, model_config, spec_of


class _Unit(nn.Module):
    """A residual unit split into its body and its shortcut: ``out = body(x)`` (with the shortcut added
    inside, as the backbone computes it) and ``skip = shortcut(x)`` (identity or the 1x1 projection)."""

    def __init__(self, unit: nn.Module | None, downsample: nn.Module | None) -> None:
        super().__init__()
        self.body = unit
        self.shortcut = downsample if downsample is not None else nn.Identity()

    def select(self, x: Tensor) -> Tensor:
        if self.body is None:
            raise RuntimeError("adashare: this block was pruned (skipped by every task)")
        return self.body(x)

    def skip(self, x: Tensor) -> Tensor:
        return self.shortcut(x)


class _PlainBody(nn.Module):
    """A plain (non-residual) backbone block as a unit body: ``body(x) = block(x)``."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x, new_context())[1]


class PoolPad(nn.Module):
    """A parameter-free skip of a plain block (ResNet's shortcut "option A", He et al. 2016, extended to
    shrinking maps): average-pool the input to the block's output size (a vector output: global average
    pooling), then zero-pad its channels to the block's. The identity where the shapes agree."""

    def __init__(self, out_shape: Sequence[int]) -> None:
        super().__init__()
        self.out_shape = tuple(int(v) for v in out_shape)

    def forward(self, x: Tensor) -> Tensor:
        if len(self.out_shape) == 3 and x.shape[-2:] != self.out_shape[1:]:
            x = F.adaptive_avg_pool2d(x, self.out_shape[1:])
        elif len(self.out_shape) == 1 and x.dim() == 4:
            x = x.mean(dim=(2, 3))
        return F.pad(x.movedim(1, -1), (0, self.out_shape[0] - x.shape[1])).movedim(-1, 1)


def residual_units(backbone: nn.Module) -> tuple[nn.Module, list[tuple[nn.Module, nn.Module | None]]]:
    """The stem and the ``(unit, shortcut)`` skippable units of a backbone, in order.

    ResNet: its residual units with their shortcuts (``None``: identity; else the 1x1 projection).
    A LeNet-style backbone (plain blocks, a fixed ``input_size``, no encoder-decoder context): every
    block, with a :class:`PoolPad` skip; the stem is empty. Its input and output shapes come from one
    forward of a zero input of ``input_size``; a block whose output has fewer channels than its input
    (after pooling) cannot be skipped that way and is refused.
    """
    name = backbone_name(backbone)
    layers = [getattr(block, "layer", None) for block in backbone.blocks]
    residual = [isinstance(ly, nn.Sequential) and all(hasattr(u, "downsample") for u in ly) for ly in layers]
    if all(residual):
        stem = nn.Sequential()
        units: list[tuple[nn.Module, nn.Module | None]] = []
        for block, layer in zip(backbone.blocks, layers):
            if getattr(block, "stem", False):
                stem = nn.Sequential(block.conv1, block.bn1, block.relu, block.maxpool)
            units += [(u, u.downsample) for u in layer]
        return stem, units
    size = getattr(backbone, "input_size", None)
    if size is None:
        raise ValueError(
            f"adashare: backbone {name!r} has no residual blocks to skip and no fixed input_size to give "
            "its blocks a skip; use a ResNet (resnet18, resnet50) or a LeNet-style backbone (lenet)"
        )
    shapes, ctx = [], new_context()
    h = torch.zeros(1, backbone.in_channels, *size)
    with torch.no_grad():
        training = backbone.training
        backbone.eval()
        for block in backbone.blocks:
            shapes.append(tuple(h.shape[1:]))
            h = block(h, ctx)[1]
        backbone.train(training)
    shapes.append(tuple(h.shape[1:]))
    if ctx:
        raise ValueError(
            f"adashare: backbone {name!r} passes features between its blocks; it cannot skip them"
        )
    for i, (a, b) in enumerate(zip(shapes, shapes[1:])):
        if a[0] > b[0]:
            raise ValueError(
                f"adashare: block {i} of backbone {name!r} maps {a[0]} channels to {b[0]}; a parameter-free "
                "skip needs at least as many output channels"
            )
    return nn.Sequential(), [(_PlainBody(block), PoolPad(b)) for block, b in zip(backbone.blocks, shapes[1:])]


def normalize_policy(policy: Mapping[str, Sequence[int]], names: list[str], n_units: int) -> list[list[int]]:
    """``{task: [0/1 per residual block]}`` (1 = select) as ``[T][L]`` lists, validated."""
    if not isinstance(policy, Mapping) or set(policy) != set(names):
        got = sorted(policy) if isinstance(policy, Mapping) else type(policy).__name__
        raise ValueError(f"adashare: policy must map every task {names} to a list of 0/1, got {got}")
    rows = []
    for name in names:
        row = list(policy[name])
        if len(row) != n_units or any(v not in (0, 1) or isinstance(v, float) for v in row):
            raise ValueError(
                f"adashare: policy[{name!r}] must be {n_units} values 0 (skip) / 1 (select), got {row}"
            )
        rows.append(row)
    return rows


@register_model("adashare")
class AdaShare(AnnealedSearch):
    """AdaShare: learning what to share.

    Sun, Panda, Feris, Saenko. AdaShare: Learning What To Share For Efficient Deep Multi-Task Learning.
    NeurIPS 2020; code: github.com/sunxm2357/AdaShare.

    Every task ``t`` runs the shared ResNet with its own policy ``u_{t,l}`` over the residual blocks
    ``l``: ``x_{l+1} = u_{t,l} F_l(x_l) + (1 - u_{t,l}) S_l(x_l)`` with ``S_l`` the block's shortcut
    (identity, or the 1x1 projection where the block changes shape, as the authors' code). A task thus
    *selects* or *skips* each block; tasks share a block when both select it. On a LeNet-style backbone
    (plain blocks, no residuals) the units are its blocks and ``S_l`` is :class:`PoolPad`, a
    parameter-free shortcut (our extension; the paper uses ResNets only).

    Search phase (``policy=None``): per task and block two logits ``(select, skip)``, starting equal.
    In training, ``u`` is a Gumbel-softmax sample (temperature ``init_temperature``, multiplied by
    ``temperature_decay`` each epoch after the warm-up; soft by default, ``hard=True`` straight-through);
    in eval the argmax. During ``warmup_epochs`` every block is selected (the policy is not learned).
    Curriculum: afterwards only the last ``k`` blocks' policies are learned, ``k`` growing by one every
    ``curriculum_speed`` epochs (the first blocks stay selected); ``None`` learns all at once.
    ``regularization()`` returns the two policy losses, with ``α_{t,l}`` the select probability:

    - sparsity ``λ_sp · Σ_t mean_l -log(1 - α_{t,l})`` over the learned blocks (the authors' code: a
      cross-entropy towards *skip*; the paper writes ``Σ log α``, which has no lower bound);
    - sharing ``λ_sh · Σ_{t<s} Σ_l (L - l) / L · |α_{t,l} - α_{s,l}|`` (the paper's weights, favouring
      sharing in the lower blocks; l = 1..L).

    Re-train phase: :meth:`derived_config` gives the argmax policy as a config; ``policy={task: [0/1,
    ...]}`` builds the network with that fixed policy, without the logits and without the blocks that no
    task selects. Search and re-train are separate runs (the authors also re-train from scratch;
    ``multitask.train.phases`` runs both). As the authors' code, the trainer updates the logits
    (:meth:`architecture_parameters`) on held-out training batches and the weights on the others
    (``multitask.train.search``); ``search.alternate: false`` trains them jointly.

    Training-loop hook: ``on_epoch_end(epoch)`` (temperature, warm-up and curriculum schedules).

    Partition: search phase: stem and blocks shared, task ``t`` owns its logits and head. Fixed policy:
    a block body selected by one task only is that task's, the shortcuts and the stem are shared.

    Args:
        tasks: the tasks.
        backbone: ``resnet18`` / ``resnet50`` / ``lenet`` (name) or a built ResNet or LeNet backbone.
        in_channels: input channels (when the backbone is given by name).
        backbone_kwargs: extra arguments of ``create_backbone``.
        head: head kind for all tasks or a ``{task: kind}`` mapping.
        policy: a fixed policy ``{task: [1 select / 0 skip per residual block]}`` (re-train phase).
        sparsity_weight: ``λ_sp`` (authors' configs: 0.05).
        sharing_weight: ``λ_sh`` (authors' configs: 0.05).
        init_temperature: Gumbel-softmax temperature at the start (authors: 5).
        temperature_decay: factor applied per epoch after warm-up (authors: 0.965, per 100 iterations).
        warmup_epochs: epochs with every block selected before the policy is learned.
        curriculum_speed: epochs per additional learned block, or ``None`` (no curriculum).
        hard: straight-through one-hot Gumbel samples in training.
    """

    has_shared_representation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        backbone: BackboneSpec = "resnet18",
        in_channels: int = 3,
        backbone_kwargs: Mapping[str, Any] | None = None,
        head: HeadSpec = None,
        policy: Mapping[str, Sequence[int]] | None = None,
        sparsity_weight: float = 0.05,
        sharing_weight: float = 0.05,
        init_temperature: float = 5.0,
        temperature_decay: float = 0.965,
        warmup_epochs: int = 0,
        curriculum_speed: int | None = 1,
        hard: bool = False,
    ) -> None:
        super().__init__(tasks)
        self._spec = spec_of("adashare", backbone, in_channels, backbone_kwargs, head)
        net = build_backbone(backbone, in_channels, backbone_kwargs)
        check_tasks(self.tasks, net, "adashare")
        for field, value in (("sparsity_weight", sparsity_weight), ("sharing_weight", sharing_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"adashare: {field} must be a number >= 0, got {value!r}")
        check_positive("adashare", "init_temperature", init_temperature)
        check_positive("adashare", "temperature_decay", temperature_decay)
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(f"adashare: warmup_epochs must be an int >= 0, got {warmup_epochs!r}")
        if curriculum_speed is not None:
            check_positive("adashare", "curriculum_speed", curriculum_speed, integer=True)
        self.check_input = net.check_input
        self.stem, units = residual_units(net)
        n = len(units)
        self.num_units = n
        self.fixed = policy is not None
        if policy is not None:
            rows = normalize_policy(policy, self.task_names, n)
            self.register_buffer("fixed_policy", torch.tensor(rows, dtype=torch.bool))
            self._users = [[t for t, row in enumerate(rows) if row[i]] for i in range(n)]
            self.units = nn.ModuleList(
                _Unit(u if self._users[i] else None, ds) for i, (u, ds) in enumerate(units)
            )
            self.logits = nn.ParameterList()
        else:
            self.units = nn.ModuleList(_Unit(u, ds) for u, ds in units)
            self.logits = nn.ParameterList(nn.Parameter(torch.full((n, 2), 0.5)) for _ in self.tasks)
        self.heads = build_heads(self.tasks, net.out_channels, head)
        self.sparsity_weight = float(sparsity_weight)
        self.sharing_weight = float(sharing_weight)
        self._init_schedule(init_temperature, temperature_decay)
        self.warmup_epochs = warmup_epochs
        self.curriculum_speed = curriculum_speed
        self.hard = bool(hard)

    # ---- schedules ----------------------------------------------------------------------------------
    @property
    def warming_up(self) -> bool:
        return not self.fixed and int(self.epochs_done) < self.warmup_epochs

    @property
    def num_learned(self) -> int:
        """How many of the last blocks have a learned policy now (curriculum)."""
        if self.curriculum_speed is None:
            return self.num_units
        return min(self.num_units, self.epochs_after_warmup // self.curriculum_speed + 1)

    # ---- the search ---------------------------------------------------------------------------------
    #: the authors' code reads two disjoint lists of training images (train1: weights, train2: policy)
    arch_fraction = 0.5

    @classmethod
    def searches(cls, kwargs: dict[str, Any]) -> bool:
        return kwargs.get("policy") is None

    def architecture_parameters(self) -> Iterator[nn.Parameter]:
        return iter(list(self.logits))

    # ---- the policy ---------------------------------------------------------------------------------
    def select_probabilities(self) -> Tensor:
        """``[T, L]`` select probabilities ``α`` (softmax of the logits); the fixed policy when given."""
        if self.fixed:
            return self.fixed_policy.float()
        return torch.stack([torch.softmax(lg, dim=-1)[:, 0] for lg in self.logits])

    def current_policy(self) -> Tensor:
        """``[T, L]`` bool (select = True): what eval runs now, the argmax policy with the blocks outside
        the curriculum (all blocks during the warm-up) selected; or the fixed policy."""
        if self.fixed:
            return self.fixed_policy.clone()
        policy = torch.stack([lg[:, 0] >= lg[:, 1] for lg in self.logits]).detach()
        if self.warming_up:
            policy[:] = True
        policy[:, : self.num_units - self.num_learned] = True
        return policy

    def _policy(self, t: int) -> Tensor | None:
        """``[L, 2]`` (select, skip) weights of task ``t`` for this forward; ``None``: select everything."""
        if self.fixed:
            p = self.fixed_policy[t].float()
            return torch.stack([p, 1 - p], dim=-1)
        if self.warming_up:
            return None
        logits = self.logits[t]
        if self.training:
            sample = F.gumbel_softmax(logits, tau=self.temperature, hard=self.hard, dim=-1)
        else:
            sample = F.one_hot(logits.argmax(-1), 2).to(logits.dtype)
        k = self.num_learned
        if k < self.num_units:  # curriculum: the first blocks stay selected
            head = torch.zeros(self.num_units - k, 2, dtype=sample.dtype, device=sample.device)
            head[:, 0] = 1.0
            sample = torch.cat([head, sample[-k:]])
        return sample

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.check_input(x)
        z = self.stem(x)
        shared = None
        preds = {}
        for t, (task, head) in enumerate(zip(self.tasks, self.heads)):
            policy = self._policy(t)
            if policy is None:
                if shared is None:
                    shared = z
                    for unit in self.units:
                        shared = unit.select(shared)
                h = shared
            else:
                h = z
                for i, unit in enumerate(self.units):
                    sel, skip = policy[i, 0], policy[i, 1]
                    if self.fixed:  # a 0/1 policy: run one path only
                        h = unit.select(h) if bool(sel) else unit.skip(h)
                    else:
                        h = sel * unit.select(h) + skip * unit.skip(h)
            preds[task.name] = to_size(task, head(h), x.shape[-2:])
        return preds

    def regularization(self) -> Tensor | None:
        """Sparsity and sharing losses of the policy (search phase after the warm-up); else ``None``."""
        if self.fixed or self.warming_up or (self.sparsity_weight == 0 and self.sharing_weight == 0):
            return None
        alpha = self.select_probabilities()  # [T, L]
        k = self.num_learned
        sparsity = -torch.log1p(-alpha[:, -k:].clamp(max=1 - 1e-6)).mean(dim=1).sum()
        n = self.num_units
        weights = (n - torch.arange(1, n + 1, dtype=alpha.dtype, device=alpha.device)) / n
        sharing = alpha.new_zeros(())
        for a in range(len(self.tasks)):
            for b in range(a + 1, len(self.tasks)):
                sharing = sharing + (weights * (alpha[a] - alpha[b]).abs()).sum()
        return self.sparsity_weight * sparsity + self.sharing_weight * sharing

    def derived_config(
        self, sample: bool = False, generator: torch.Generator | None = None
    ) -> dict[str, Any]:
        """The found policy as a ``model`` config: ``adashare`` with ``policy={task: [0/1, ...]}``.

        The argmax policy (:meth:`current_policy`), or with ``sample=True`` one drawn from the select
        probabilities (the authors sample several and re-train each); blocks outside the curriculum stay
        selected either way.
        """
        policy = self.current_policy()
        if sample and not self.fixed:
            with torch.no_grad():
                drawn = torch.bernoulli(self.select_probabilities().cpu(), generator=generator).bool()
            k = self.num_learned if not self.warming_up else 0
            policy[:, self.num_units - k :] = drawn[:, self.num_units - k :]
        fixed = {name: [int(v) for v in policy[t]] for t, name in enumerate(self.task_names)}
        return model_config("adashare", self._spec, policy=fixed)

    # ---- partition ----------------------------------------------------------------------------------
    def _owner(self, i: int) -> int | None:
        """The task owning block ``i``'s body (fixed policy, one selecting task), else ``None``."""
        if not self.fixed:
            return None
        users = self._users[i]
        return users[0] if len(users) == 1 else None

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        mods: list[nn.Module] = [self.stem]
        for i, unit in enumerate(self.units):
            if unit.body is not None and self._owner(i) is None:
                mods.append(unit)
            else:
                mods.append(unit.shortcut)
        return parameters_of(mods)

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        self._check_task(task)
        t = self.task_names.index(task)
        shortcuts = {id(p) for u in self.units for p in u.shortcut.parameters()}
        own = [
            p
            for i, unit in enumerate(self.units)
            if self._owner(i) == t
            for p in unit.body.parameters()
            if id(p) not in shortcuts
        ]
        logits = [self.logits[t]] if not self.fixed else []
        return parameters_of([*own, *logits, self.heads[t]])
