"""Shared fixtures for the model tests: task configurations, random batches and the acceptance checks.

Fixtures that return helpers (``make_batch``, ``check_partition``, ``check_ew_grads``, ``check_training``,
``check_architecture``, ``check_architecture_training``, ``check_vector_architecture``) are used as
``def test_x(make_batch): x, y = make_batch(tasks)``. A module that wants one thread per test around each
of its tests sets ``pytestmark = pytest.mark.usefixtures("one_thread")``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import pytest
import torch
from torch import Tensor, nn

import multitask as mt
from multitask.core.tasks import Task

# tiny models: one thread avoids oversubscribing the cores when pytest-xdist runs two workers
torch.set_num_threads(1)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models run far faster on one thread (no oversubscription on a shared CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CLS = Task("digit", "classification", 4)
BIN = Task("flag", "binary", 1)
MULTI = Task("attrs", "multilabel", 3)
REG = Task("pose", "regression", 2)
SEG = Task("seg", "segmentation", 3)
DEPTH = Task("depth", "depth", 1)
NORMALS = Task("normals", "normals", 3)
EDGES = Task("edges", "edges", 1)

#: configurations mixing classification, dense and regression tasks (for dense backbones)
TASK_CONFIGS: dict[str, list[Task]] = {
    "two": [SEG, CLS],
    "three": [SEG, DEPTH, REG],
    "five": [SEG, DEPTH, NORMALS, EDGES, CLS],
}
#: configurations without dense tasks (for vector backbones: lenet, mlp)
VECTOR_TASK_CONFIGS: dict[str, list[Task]] = {
    "two": [CLS, REG],
    "three": [CLS, BIN, REG],
    "five": [CLS, Task("digit2", "classification", 5), BIN, MULTI, REG],
}


@pytest.fixture(params=sorted(TASK_CONFIGS), ids=lambda k: f"{k}-tasks")
def dense_tasks(request: pytest.FixtureRequest) -> list[Task]:
    """2-, 3- and 5-task configurations with dense tasks (parametrised)."""
    return TASK_CONFIGS[request.param]


@pytest.fixture(params=sorted(VECTOR_TASK_CONFIGS), ids=lambda k: f"{k}-vec-tasks")
def vector_tasks(request: pytest.FixtureRequest) -> list[Task]:
    """2-, 3- and 5-task configurations of vector tasks (parametrised)."""
    return VECTOR_TASK_CONFIGS[request.param]


@pytest.fixture
def task_configs() -> dict[str, list[Task]]:
    return dict(TASK_CONFIGS)


@pytest.fixture
def vector_task_configs() -> dict[str, list[Task]]:
    return dict(VECTOR_TASK_CONFIGS)


def random_target(task: Task, batch: int, size: tuple[int, int], gen: torch.Generator) -> Tensor:
    """A random target following the conventions of ``multitask.core.tasks``."""
    h, w = size
    k = task.num_outputs
    if task.kind == "classification":
        return torch.randint(k, (batch,), generator=gen)
    if task.kind == "binary":
        return torch.randint(2, (batch,), generator=gen).float()
    if task.kind == "multilabel":
        return torch.randint(2, (batch, k), generator=gen).float()
    if task.kind == "regression":
        return torch.randn(batch, k, generator=gen)
    if task.kind == "segmentation":
        return torch.randint(k, (batch, h, w), generator=gen)
    if task.kind == "depth":
        return torch.rand(batch, 1, h, w, generator=gen) + 0.5
    if task.kind == "normals":
        return nn.functional.normalize(torch.randn(batch, 3, h, w, generator=gen), dim=1)
    if task.kind == "edges":
        return (torch.rand(batch, 1, h, w, generator=gen) > 0.7).float()
    raise AssertionError(task.kind)


def expected_shape(task: Task, batch: int, size: tuple[int, int]) -> tuple[int, ...]:
    if task.dense:
        return (batch, task.num_outputs, *size)
    return (batch, task.num_outputs)


@pytest.fixture
def make_batch() -> Callable[..., tuple[Tensor, dict[str, Tensor]]]:
    """``make_batch(tasks, batch=2, size=(32, 32), in_channels=3, features=None, seed=0)``.

    Returns ``(x, targets)``; ``features=n`` gives vector inputs ``[B, n]``.
    """

    def make(
        tasks: Sequence[Task],
        batch: int = 2,
        size: tuple[int, int] = (32, 32),
        in_channels: int = 3,
        features: int | None = None,
        seed: int = 0,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        gen = torch.Generator().manual_seed(seed)
        if features is not None:
            x = torch.randn(batch, features, generator=gen)
        else:
            x = torch.randn(batch, in_channels, *size, generator=gen)
        return x, {t.name: random_target(t, batch, size, gen) for t in tasks}

    return make


@pytest.fixture
def check_shapes() -> Callable[[nn.Module, Tensor], dict[str, Tensor]]:
    """Forward ``x`` and assert one prediction per task with the kind's shape at the input resolution."""

    def check(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
        out = model(x)
        assert list(out) == [t.name for t in model.tasks]
        size = tuple(x.shape[-2:])
        for t in model.tasks:
            assert tuple(out[t.name].shape) == expected_shape(t, x.shape[0], size), t.name
            assert torch.isfinite(out[t.name]).all(), t.name
        return out

    return check


@pytest.fixture
def check_partition() -> Callable[[nn.Module], None]:
    """Assert that shared_parameters() and task_parameters(t) partition parameters() exactly."""

    def check(model: nn.Module) -> None:
        owner: dict[int, str] = {}
        for p in model.shared_parameters():
            assert id(p) not in owner, "a shared parameter is listed twice"
            owner[id(p)] = "<shared>"
        for t in model.task_names:
            for p in model.task_parameters(t):
                assert id(p) not in owner, f"parameter of task {t!r} also belongs to {owner.get(id(p))!r}"
                owner[id(p)] = t
        all_ids = {id(p) for p in model.parameters()}
        assert set(owner) == all_ids, f"{len(all_ids - set(owner))} parameters unowned"
        for t in model.task_names:
            owns = any(True for _ in model.task_parameters(t))
            assert owns == model.has_task_parameters, f"task {t!r}: owns parameters = {owns}"
        with pytest.raises(ValueError, match="unknown task"):
            list(model.task_parameters("no-such-task"))

    return check


def task_losses(model: nn.Module, out: dict[str, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
    losses = {t.name: t.loss(out[t.name], targets[t.name]) for t in model.tasks}
    for extra in getattr(model, "aux_outputs", {}).items():
        name, preds = extra
        task = model.tasks[model.task_names.index(name)]
        for p in preds:
            losses[name] = losses[name] + task.loss(p, targets[name])
    return losses


@pytest.fixture
def check_ew_grads() -> Callable[[nn.Module, Tensor, dict[str, Tensor]], None]:
    """One ``multitask.backward`` step with EW: every parameter gets a finite, non-None gradient."""

    def check(model: nn.Module, x: Tensor, targets: dict[str, Tensor]) -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        losses = task_losses(model, model(x), targets)
        mt.backward(losses, mt.create_method("ew"), shared=list(model.shared_parameters()))
        for name, p in model.named_parameters():
            assert p.grad is not None, f"{name} got no gradient"
            assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"

    return check


@pytest.fixture
def check_training() -> Callable[..., None]:
    """A few Adam steps on one random batch lower the summed task loss (train mode, fixed seed)."""

    def check(
        model: nn.Module,
        x: Tensor,
        targets: dict[str, Tensor],
        steps: int = 8,
        lr: float = 1e-2,
        factor: float = 0.9,
    ) -> None:
        torch.manual_seed(0)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        history = []
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = sum(task_losses(model, model(x), targets).values())
            assert math.isfinite(loss.item())
            loss.backward()
            opt.step()
            history.append(loss.item())
        with torch.no_grad():
            torch.manual_seed(0)
            final = sum(task_losses(model, model(x), targets).values()).item()
        assert final < factor * history[0], f"loss {history[0]:.4f} -> {final:.4f} ({history})"

    return check


#: small backbone settings for the architecture tests: (backbone kwargs, input: size/in_channels/features)
BACKBONE_CASES: dict[str, dict] = {
    "lenet": {  # no dropout: the short training check then sees the optimisation, not the noise
        "kwargs": {"dropout": 0.0},
        "in_channels": 1,
        "size": (28, 28),
        "features": None,
        "dense": False,
    },
    "mlp": {
        "kwargs": {"in_features": 6, "hidden": (16, 12)},
        "in_channels": 6,
        "size": (1, 1),
        "features": 6,
        "dense": False,
    },
    "segnet": {"kwargs": {"width": 4}, "in_channels": 3, "size": (32, 32), "features": None, "dense": True},
    "resnet18": {"kwargs": {"width": 4}, "in_channels": 3, "size": (32, 32), "features": None, "dense": True},
    "resnet50": {
        "kwargs": {"width": 2, "dilated": True},
        "in_channels": 3,
        "size": (32, 32),
        "features": None,
        "dense": True,
    },
    "unet": {
        "kwargs": {"width": 4, "depth": 2},
        "in_channels": 3,
        "size": (16, 16),
        "features": None,
        "dense": True,
    },
}


class Case:
    """One backbone setting: ``build(arch, tasks, **kw)`` makes a model, ``batch(tasks)`` its data."""

    def __init__(self, name: str, make_batch: Callable[..., tuple[Tensor, dict[str, Tensor]]]) -> None:
        spec = BACKBONE_CASES[name]
        self.name = name
        self.spec = spec
        self.configs = TASK_CONFIGS if spec["dense"] else VECTOR_TASK_CONFIGS
        self._make_batch = make_batch

    def build(self, arch: str, tasks: Sequence[Task], **kwargs) -> nn.Module:
        torch.manual_seed(0)
        return mt.create_model(
            arch,
            backbone=self.name,
            tasks=list(tasks),
            in_channels=self.spec["in_channels"],
            backbone_kwargs=dict(self.spec["kwargs"]),
            **kwargs,
        )

    def batch(self, tasks: Sequence[Task], batch: int = 2, seed: int = 0) -> tuple[Tensor, dict[str, Tensor]]:
        return self._make_batch(
            tasks,
            batch=batch,
            size=self.spec["size"],
            in_channels=self.spec["in_channels"],
            features=self.spec["features"],
            seed=seed,
        )


@pytest.fixture
def case_for(make_batch: Callable[..., tuple[Tensor, dict[str, Tensor]]]) -> Callable[[str], Case]:
    """``case_for("segnet")``: a :class:`Case` with small widths and inputs for that backbone."""
    return lambda name: Case(name, make_batch)


@pytest.fixture
def check_architecture(
    case_for: Callable[[str], Case],
    check_shapes: Callable[[nn.Module, Tensor], dict[str, Tensor]],
    check_partition: Callable[[nn.Module], None],
    check_ew_grads: Callable[[nn.Module, Tensor, dict[str, Tensor]], None],
) -> Callable[..., None]:
    """``check_architecture(arch, bb, config, extra=None, **kwargs)``: build ``arch`` (with ``kwargs``) on
    the small ``bb`` backbone for the ``config`` tasks, then run ``check_shapes``, ``extra(model, tasks,
    out)`` (further assertions on the outputs, if given), ``check_partition`` and ``check_ew_grads``."""

    def check(
        arch: str,
        bb: str,
        config: str,
        extra: Callable[[nn.Module, Sequence[Task], dict[str, Tensor]], None] | None = None,
        **kwargs,
    ) -> None:
        case = case_for(bb)
        tasks = case.configs[config]
        model = case.build(arch, tasks, **kwargs)
        x, y = case.batch(tasks)
        out = check_shapes(model, x)
        if extra is not None:
            extra(model, tasks, out)
        check_partition(model)
        check_ew_grads(model, x, y)

    return check


@pytest.fixture
def check_architecture_training(
    case_for: Callable[[str], Case], check_training: Callable[..., None]
) -> Callable[..., None]:
    """``check_architecture_training(arch, bb, config, steps=None, **kwargs)``: ``check_training`` (with
    its default step count unless ``steps`` is given) on ``arch`` built with ``kwargs`` on the small ``bb``
    backbone, on a batch of 4 for the ``config`` tasks."""

    def check(arch: str, bb: str, config: str, steps: int | None = None, **kwargs) -> None:
        case = case_for(bb)
        tasks = case.configs[config]
        model = case.build(arch, tasks, **kwargs)
        training = {} if steps is None else {"steps": steps}
        check_training(model, *case.batch(tasks, batch=4), **training)

    return check


def _same_task_names(model: nn.Module, tasks: Sequence[Task], x: Tensor) -> None:
    """Default output check: one finite ``[B, outputs]`` prediction per task, in task order."""
    out = model(x)
    assert list(out) == [t.name for t in tasks]
    for t in tasks:
        assert tuple(out[t.name].shape) == expected_shape(t, x.shape[0], (1, 1)), t.name
        assert torch.isfinite(out[t.name]).all(), t.name


def ple_by_hand(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """PLE's forward on vector inputs (Tang et al., RecSys 2020, Eqs. 2-5) recomputed from the weights
    with functional ops: MLP experts, bias-free softmax gates, linear towers. CGC is one level."""

    def expert(e: nn.Module, h: Tensor) -> Tensor:
        for layer in e:
            if isinstance(layer, nn.Linear):
                h = torch.relu(nn.functional.linear(h, layer.weight, layer.bias))
        return h

    def mixed(gate: nn.Module, h: Tensor, outs: list[Tensor]) -> Tensor:
        w = torch.softmax(h @ gate.linear.weight.T, dim=-1)
        return sum(w[:, i : i + 1] * o for i, o in enumerate(outs))

    n = len(model.tasks)
    task_in, shared_in = [x] * n, x
    for j in range(model.num_levels):
        s_out = [expert(e, shared_in) for e in model.shared_experts[j]]
        t_out = [[expert(e, task_in[k]) for e in model.task_experts[k][j]] for k in range(n)]
        nxt = [mixed(model.task_gates[k][j], task_in[k], t_out[k] + s_out) for k in range(n)]
        if j < model.num_levels - 1:
            everyone = [o for k in range(n) for o in t_out[k]] + s_out
            shared_in = mixed(model.shared_gates[j], shared_in, everyone)
        task_in = nxt
    return {
        t.name: nn.functional.linear(h, head.fc.weight, head.fc.bias)
        for t, h, head in zip(model.tasks, task_in, model.heads)
    }


@pytest.fixture
def check_ple_outputs() -> Callable[[nn.Module, Sequence[Task], Tensor], None]:
    """An ``outputs`` check for ``check_vector_architecture``: PLE/CGC's predictions equal
    :func:`ple_by_hand`."""

    def check(model: nn.Module, tasks: Sequence[Task], x: Tensor) -> None:
        _same_task_names(model, tasks, x)
        out, expected = model(x), ple_by_hand(model, x)
        for t in tasks:
            torch.testing.assert_close(out[t.name], expected[t.name])

    return check


@pytest.fixture
def check_vector_architecture(
    make_batch: Callable[..., tuple[Tensor, dict[str, Tensor]]],
    check_partition: Callable[[nn.Module], None],
    check_ew_grads: Callable[[nn.Module, Tensor, dict[str, Tensor]], None],
) -> Callable[..., None]:
    """``check_vector_architecture(arch, config, outputs=None, **kwargs)``: build ``arch`` (with
    ``kwargs``, seed 0) without a backbone on 6 input features for the ``config`` vector tasks, then run
    ``outputs(model, tasks, x)`` (default: the forward returns exactly the task names),
    ``check_partition`` and ``check_ew_grads``."""

    def check(
        arch: str,
        config: str,
        outputs: Callable[[nn.Module, Sequence[Task], Tensor], None] = _same_task_names,
        **kwargs,
    ) -> None:
        tasks = VECTOR_TASK_CONFIGS[config]
        torch.manual_seed(0)
        model = mt.create_model(arch, tasks=tasks, in_channels=6, **kwargs)
        x, y = make_batch(tasks, features=6)
        outputs(model, tasks, x)
        check_partition(model)
        check_ew_grads(model, x, y)

    return check
