"""Base classes of the balancing methods and the method registry.

Two families:

* :class:`LossWeighting` sees the vector of task losses (and its own history) and returns the
  scalar objective to back-propagate, usually ``Σₜ wₜ Lₜ``: one backward pass per step.
* :class:`GradientMethod` sees the ``T x n`` Jacobian ``J`` of the losses (rows are task gradients)
  with respect to the shared parameters (parameters mode) or the shared representation (features
  mode), or only its Gramian ``G = J Jᵀ`` when it declares ``needs = "gramian"``. It returns weights
  ``w`` (direction ``wᵀJ``) or a direction directly.

Every method is an :class:`torch.nn.Module`, so ``state_dict()`` / ``load_state_dict()`` carry its
learnable parameters, and the attributes named in ``_state_attrs`` (moving averages, loss history,
step counters) travel as the module's extra state. Checkpoints stay loadable with
``torch.load(weights_only=True)`` because extra state holds only tensors, numbers, lists and dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from multitask._registry import Registry

METHODS: Registry[Method] = Registry("method")
register_method = METHODS.register


def create_method(name: str, **hparams: Any) -> Method:
    """Build a registered method, e.g. ``create_method("cagrad", c=0.4)``."""
    return METHODS.create(name, **hparams)


def list_methods(pattern: str | None = None) -> list[str]:
    """Registered method names (optionally filtered by a glob pattern such as ``"*grad*"``)."""
    return METHODS.names(pattern)


@dataclass
class LossContext:
    """What a loss weighting may look at besides the loss vector.

    Attributes:
        task_names: task names in the order of the loss vector.
        shared: the shared parameters (GradNorm differentiates through them).
        step: number of previous calls of this method (0 at the first step).
    """

    task_names: list[str]
    shared: list[Tensor] = field(default_factory=list)
    step: int = 0


class Method(nn.Module):
    """Common base: registry name, state handling, validation helpers."""

    kind: ClassVar[str] = ""
    #: names of plain attributes that make up the method's state (saved as extra state)
    _state_attrs: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.step_count = 0
        self.last_weights: Tensor | None = None

    # ---- state -------------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        state = {"step_count": self.step_count}
        for key in self._state_attrs:
            state[key] = _detach(getattr(self, key))
        return state

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise ValueError(f"{type(self).__name__}: extra state must be a dict, got {type(state).__name__}")
        missing = [k for k in ("step_count", *self._state_attrs) if k not in state]
        if missing:
            raise ValueError(f"{type(self).__name__}: state is missing {missing}")
        self.step_count = int(state["step_count"])
        for key in self._state_attrs:
            setattr(self, key, state[key])

    def reset(self) -> None:
        """Forget history (loss records, moving averages); learnable parameters are kept."""
        self.step_count = 0
        self.last_weights = None

    # ---- hooks a training loop calls (declared here so a trainer never probes for them) ----------
    def on_train_begin(self, num_epochs: int, steps_per_epoch: int) -> None:
        """Called once before training with the run's budget (epochs, optimiser steps per epoch).

        Methods whose schedule is counted in epochs (warm-ups) may adapt it to the budget. Default: nothing.
        """

    def on_epoch_end(
        self,
        val_metrics: Mapping[str, Mapping[str, float]] | None = None,
        higher_is_better: Mapping[str, Mapping[str, bool]] | None = None,
    ) -> None:
        """Called after each training epoch, with that epoch's validation metrics when a loop has them.

        ``val_metrics`` maps task -> metric -> value; ``higher_is_better`` maps task -> metric -> bool, its
        first metric per task being the task's main metric. Default: nothing.
        """

    def extra_repr(self) -> str:
        return ""


class LossWeighting(Method):
    """A method that turns the loss vector into one scalar objective.

    Subclasses implement :meth:`weights` (detached loss values -> weights ``[T]``) or override
    :meth:`objective` when the objective is not a weighted sum (uncertainty weighting, STCH, ...).
    """

    kind: ClassVar[str] = "loss"

    def weights(self, losses: Tensor) -> Tensor:
        raise NotImplementedError

    def objective(self, losses: Tensor, ctx: LossContext) -> tuple[Tensor, Tensor]:
        """Return ``(objective, weights)``; ``losses`` is the ``[T]`` loss vector with its graph."""
        w = self.weights(losses.detach())
        return (w.to(losses.dtype) * losses).sum(), w.detach()

    def combine(self, losses: Tensor | Sequence[Tensor], task_names: Sequence[str] | None = None) -> Tensor:
        """Standalone use: the scalar objective for a loss vector (no shared-parameter context)."""
        vec = torch.stack(list(losses)) if not isinstance(losses, Tensor) else losses
        names = list(task_names) if task_names is not None else [str(i) for i in range(vec.numel())]
        total, w = self.objective(vec, LossContext(task_names=names, step=self.step_count))
        self.last_weights = w
        self.step_count += 1
        return total


class GradientMethod(Method):
    """A method that combines task gradients.

    Class attributes:
        needs: ``"gramian"`` when :meth:`weights` needs only ``G = J Jᵀ`` (the engine then never
            concatenates ``J``), ``"jacobian"`` when :meth:`direction` needs ``J`` itself.
        supports_features: whether features mode is meaningful; when not, ``features_error`` says why.
        supports_parameters: likewise for parameters mode (``parameters_error``), e.g. RotoGrad, whose
            update is defined on the shared representation.
        uses_losses: whether the method reads the loss values (passed as ``losses``).
    """

    kind: ClassVar[str] = "gradient"
    needs: ClassVar[str] = "jacobian"
    supports_features: ClassVar[bool] = True
    features_error: ClassVar[str] = ""
    supports_parameters: ClassVar[bool] = True
    parameters_error: ClassVar[str] = ""
    uses_losses: ClassVar[bool] = False

    def weights(self, gramian: Tensor, losses: Tensor | None = None) -> Tensor:
        """Weights ``w`` (direction ``wᵀJ``) from the Gramian; for ``needs = "gramian"`` methods."""
        raise NotImplementedError(f"{type(self).__name__} returns a direction, not weights")

    def direction(self, jacobian: Tensor, losses: Tensor | None = None) -> Tensor:
        """The update direction ``[n]`` from the Jacobian ``[T, n]``."""
        w = self.weights(jacobian @ jacobian.T, losses)
        self.last_weights = w
        return w.to(jacobian.dtype) @ jacobian

    def aggregate(self, jacobian: Tensor, losses: Tensor | None = None) -> Tensor:
        """Standalone use: combine the rows of ``jacobian`` (shape ``[T, n]``) into one direction ``[n]``.

        ``losses`` (shape ``[T]``) is needed only by methods with ``uses_losses = True``.
        """
        jacobian = check_jacobian(jacobian)
        if losses is not None:
            losses = torch.as_tensor(losses, dtype=jacobian.dtype, device=jacobian.device).detach()
            if losses.shape != (jacobian.shape[0],):
                raise ValueError(f"losses must have shape ({jacobian.shape[0]},), got {tuple(losses.shape)}")
        elif self.uses_losses:
            raise ValueError(f"{type(self).__name__} needs the loss values: call aggregate(J, losses)")
        self.last_weights = None
        if self.needs == "gramian":
            w = self.weights(jacobian @ jacobian.T, losses)
            self.last_weights = w
            out = w.to(jacobian.dtype) @ jacobian
        else:
            out = self.direction(jacobian, losses)
        self.step_count += 1
        return out


def check_jacobian(jacobian: Tensor) -> Tensor:
    """Validate a ``[T, n]`` Jacobian: a floating 2-D tensor with at least one row, all finite."""
    if not isinstance(jacobian, Tensor):
        raise TypeError(f"the Jacobian must be a torch.Tensor, got {type(jacobian).__name__}")
    if jacobian.dim() != 2:
        raise ValueError(f"the Jacobian must have shape [T, n], got {tuple(jacobian.shape)}")
    if jacobian.shape[0] < 1 or jacobian.shape[1] < 1:
        raise ValueError(f"the Jacobian needs at least one task and one column, got {tuple(jacobian.shape)}")
    if not jacobian.is_floating_point():
        raise TypeError(f"the Jacobian must be floating point, got {jacobian.dtype}")
    if not torch.isfinite(jacobian).all():
        bad = (~torch.isfinite(jacobian)).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"the Jacobian has non-finite entries in task rows {bad}")
    return jacobian


def check_gramian(gramian: Tensor) -> Tensor:
    """Validate a ``[T, T]`` Gramian."""
    if gramian.dim() != 2 or gramian.shape[0] != gramian.shape[1] or gramian.shape[0] < 1:
        raise ValueError(f"the Gramian must have shape [T, T], got {tuple(gramian.shape)}")
    if not torch.isfinite(gramian).all():
        raise ValueError("the Gramian has non-finite entries")
    return gramian


def _detach(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, list):
        return [_detach(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_detach(v) for v in value)
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    return value
