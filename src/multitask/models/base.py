"""The interface every multi-task architecture implements, and the model registry."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from torch import Tensor, nn

from multitask._registry import Registry
from multitask.core.tasks import Task

MODELS: Registry[nn.Module] = Registry("model")
register_model = MODELS.register


def create_model(name: str, **kwargs: Any) -> MultiTaskModel:
    """Build a registered architecture, e.g. ``create_model("hps", backbone="lenet", tasks=tasks)``."""
    return MODELS.create(name, **kwargs)  # type: ignore[return-value]


def list_models(pattern: str | None = None) -> list[str]:
    """Registered architecture names (optionally filtered by a glob pattern)."""
    return MODELS.names(pattern)


class MultiTaskModel(nn.Module):
    """Base class of every architecture.

    ``forward(x)`` returns ``{task: prediction}``. Architectures with deep supervision (PAD-Net,
    MTI-Net) also expose their intermediate predictions through ``self.aux_outputs`` after a forward
    (a ``{task: [predictions...]}`` dict); a trainer adds the task loss of each to the task's loss.

    ``shared_parameters()`` and ``task_parameters(task)`` partition ``parameters()``: every parameter
    is in exactly one of them.

    ``has_shared_representation`` says whether ``encode(x)`` / ``decode(z)`` exist, which features
    mode of the gradient methods needs; without it a trainer uses parameters mode.

    ``has_task_parameters`` is False for architectures in which every parameter is shared and the task
    is an input (the task-switching network): ``task_parameters(t)`` is then empty for every task.
    """

    has_shared_representation: bool = False
    has_task_parameters: bool = True
    #: a search's default share of the training split held out for its architecture steps
    arch_fraction: float = 0.5

    def __init__(self, tasks: Sequence[Task]) -> None:
        super().__init__()
        tasks = list(tasks)
        if not tasks:
            raise ValueError("a multi-task model needs at least one task")
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        self.tasks: list[Task] = tasks
        self.task_names: list[str] = names
        self.aux_outputs: dict[str, list[Tensor]] = {}

    def regularization(self) -> Tensor | None:
        """An extra loss term of the architecture itself (DSelect-k's gate entropy), or ``None``.

        A training loop back-propagates it as is each step, outside the balancing method. Default: none.
        """
        return None

    def on_epoch_end(self, epoch: int) -> None:
        """Called by a training loop after the training steps of epoch ``epoch`` (0-based), before validation.

        Models whose structure changes with training time act here (Maximum Roaming's partition updates,
        the Gumbel temperature / curriculum schedules of the search models). Default: nothing.
        """

    def on_losses(self, losses: dict[str, Tensor]) -> None:
        """Called by a training loop each training step with the task losses of the forward just run
        (detached), before ``regularization()``. Models trained by reinforcement (routing networks) take
        their rewards from it. Default: nothing.
        """

    def architecture_parameters(self) -> Iterator[nn.Parameter]:
        """For an architecture search: the parameters of the architecture distribution (AdaShare's
        policy logits, Learning to Branch's parent logits, BMTAS's path logits), which a trainer may
        update on held-out training batches with their own optimizer (``search`` config section). They
        are also in ``shared_parameters()`` / ``task_parameters()``. Default: none."""
        return iter(())

    @property
    def architecture_learning(self) -> bool:
        """Whether the architecture parameters are learned now (``False`` during a search's warm-up,
        when the trainer gives every training batch to the weights). Default: ``True``."""
        return True

    @classmethod
    def searches(cls, kwargs: dict[str, Any]) -> bool:
        """Whether ``create_model(name, **kwargs)`` builds an architecture search, which a benchmark runs
        in two phases (search, then :meth:`derived_config` trained from scratch). Default: ``False``."""
        return False

    def derived_config(self) -> dict[str, Any] | None:
        """For an architecture search: the found architecture as a ``model`` config section
        (``{"name", "backbone", "kwargs"}``) that ``create_model`` trains again; ``None`` for other models.
        """
        return None

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        raise NotImplementedError

    def task_parameters(self, task: str) -> Iterator[nn.Parameter]:
        raise NotImplementedError

    def encode(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        raise NotImplementedError(
            f"{type(self).__name__} has no single shared representation; use parameters mode"
        )

    def decode(self, z: Tensor | tuple[Tensor, ...]) -> dict[str, Tensor]:
        raise NotImplementedError(
            f"{type(self).__name__} has no single shared representation; use parameters mode"
        )

    def _check_task(self, task: str) -> None:
        if task not in self.task_names:
            raise ValueError(f"unknown task {task!r}; this model has {self.task_names}")
