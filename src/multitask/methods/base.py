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

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from multitask._registry import Registry
from multitask.core import jacobian as jac
from multitask.core.gramian import check_gramian, to_device, to_host
from multitask.core.jacobian import check_jacobian

__all__ = [
    "METHODS",
    "GradientMethod",
    "LossContext",
    "LossWeighting",
    "Method",
    "check_gramian",
    "check_jacobian",
    "create_method",
    "list_methods",
    "register_method",
]

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
        reduce: under data parallelism, the mean over the processes of a list of tensors (``None``: one
            process). A method that differentiates through ``shared`` (GradNorm) averages those gradients
            with it, so that every rank sees the global batch's.
        present: indices (in the full task order) of the tasks in the loss vector when some tasks are
            absent from this step (no labelled sample; see ``multitask.backward``), else ``None``.
        num_tasks: the number of tasks of the problem, absent ones included.
    """

    task_names: list[str]
    shared: list[Tensor] = field(default_factory=list)
    step: int = 0
    reduce: Callable[[Sequence[Tensor]], list[Tensor]] | None = None
    present: Tensor | None = None
    num_tasks: int | None = None

    def expected(self, num_tasks: int | None) -> int | None:
        """The loss vector's expected length for a method built for ``num_tasks`` tasks (``None``: any).

        When tasks are absent, ``num_tasks`` must be the problem's full task count and the vector holds the
        present tasks only.
        """
        if self.present is None:
            return num_tasks
        if num_tasks is not None and self.num_tasks is not None and num_tasks != self.num_tasks:
            raise ValueError(
                f"built for num_tasks={num_tasks}, but the problem has {self.num_tasks} tasks "
                f"(present in this step: {list(self.task_names)})"
            )
        return len(self.task_names)


class Method(nn.Module):
    """Common base: registry name, state handling, validation helpers."""

    kind: ClassVar[str] = ""
    #: names of plain attributes that make up the method's state (saved as extra state)
    _state_attrs: ClassVar[tuple[str, ...]] = ()
    #: why the method cannot give the one-process update under data parallelism ("" when it can)
    data_parallel_error: ClassVar[str] = ""
    #: whether a step may leave out absent tasks (partial labels): ``None`` infers it (a method without
    #: parameters, buffers or per-task state works on the present tasks as it would on any task set);
    #: a stateful method declares ``True`` once it keeps its per-task state across absent steps
    supports_absent: ClassVar[bool | None] = None
    #: state attributes added later (partial labels) that a state saved before them may lack
    _optional_state: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.step_count = 0
        self.last_weights: Tensor | None = None
        #: during a step with absent tasks: indices of the present tasks in the full order, and the full T
        self.present: Tensor | None = None
        self.total_tasks: int | None = None

    # ---- state -------------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        state = {"step_count": self.step_count}
        for key in self._state_attrs:
            state[key] = _detach(getattr(self, key))
        return state

    def set_extra_state(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise ValueError(f"{type(self).__name__}: extra state must be a dict, got {type(state).__name__}")
        optional = set(self._optional_state)
        missing = [k for k in ("step_count", *self._state_attrs) if k not in state and k not in optional]
        if missing:
            raise ValueError(f"{type(self).__name__}: state is missing {missing}")
        self.step_count = int(state["step_count"])
        for key in self._state_attrs:
            if key in state:  # an optional key absent from an older state keeps its initial value
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

    # ---- partial labels: a step on a subset of the tasks ----------------------------------------------
    def handles_absent_tasks(self) -> bool:
        """Whether this method can take a step in which some tasks are absent (see ``supports_absent``)."""
        if self.supports_absent is not None:
            return bool(self.supports_absent)
        stateful = [a for a in self._state_attrs if a not in _RNG_ATTRS]
        has_tensors = any(True for _ in self.parameters()) or any(True for _ in self.buffers())
        return not stateful and not has_tensors

    def begin_subset(self, present: Sequence[int], num_tasks: int, absent: Sequence[str] = ()) -> None:
        """Enter a step on the tasks ``present`` (indices in the full order of ``num_tasks`` tasks).

        Raises ``ValueError`` for a method that keeps per-task state but has not declared how it skips
        absent tasks. :meth:`end_subset` leaves the step.
        """
        if not self.handles_absent_tasks():
            raise ValueError(
                f"{type(self).__name__} keeps per-task state and does not support steps with absent tasks "
                f"(tasks {list(absent)} have no labelled sample in this step); use another method or give "
                "every task a label in every batch"
            )
        self.present = torch.as_tensor(list(present), dtype=torch.long)
        self.total_tasks = int(num_tasks)

    def end_subset(self) -> None:
        self.present = None
        self.total_tasks = None


#: state attributes that hold only a random generator (the same for any task subset)
_RNG_ATTRS = ("rng_state", "generator_state")


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

    def combine(
        self,
        losses: Tensor | Sequence[Tensor],
        task_names: Sequence[str] | None = None,
        shared: Sequence[Tensor] = (),
        reduce: Callable[[Sequence[Tensor]], list[Tensor]] | None = None,
    ) -> Tensor:
        """One step of the method: the scalar objective to back-propagate for a loss vector.

        The one place a loss weighting's step is taken (``multitask.backward`` calls it too): it checks
        the objective is a finite scalar, records ``last_weights`` and counts the step.

        Args:
            losses: the ``[T]`` loss vector (or a sequence of scalar losses), with its graph.
            task_names: task names in order (default ``"0"``, ``"1"``, ...).
            shared: the shared parameters, for methods that differentiate through them (GradNorm).
            reduce: data parallelism only (``multitask.backward`` passes it): see :class:`LossContext`.
        """
        vec = torch.stack(list(losses)) if not isinstance(losses, Tensor) else losses
        names = list(task_names) if task_names is not None else [str(i) for i in range(vec.numel())]
        ctx = LossContext(
            task_names=names,
            shared=list(shared),
            step=self.step_count,
            present=self.present,
            num_tasks=self.total_tasks if self.present is not None else len(names),
            reduce=reduce,
        )
        total, w = self.objective(vec, ctx)
        if total.dim() != 0 or not torch.isfinite(total):
            raise ValueError(f"{type(self).__name__} produced a non-finite or non-scalar objective: {total}")
        self.last_weights = w.detach()
        self.step_count += 1
        return total


def wraps_representation(factory: Any) -> bool:
    """Whether a registry entry is a gradient method that wraps the shared representation (RotoGrad)."""
    return isinstance(factory, type) and issubclass(factory, GradientMethod) and factory.wraps_features


def runs_in_parameters_grid(factory: Any) -> bool:
    """Whether a registry entry trains in a parameters-mode grid: every loss weighting and gradient method
    with a parameters mode, and features-only methods that wrap the representation (they fall back to
    features mode on a model with one). A user's factory that is not a class is assumed to."""
    if not (isinstance(factory, type) and issubclass(factory, GradientMethod)):
        return True
    return factory.supports_parameters or factory.wraps_features


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
    #: features mode: the method wraps the shared representation, i.e. the task heads see
    #: :meth:`wrap_features` ``(z)[k]`` (one view per task) instead of ``z``, in training and in evaluation
    #: (RotoGrad's rotations). A trainer builds such a method with ``dim=`` the representation's last
    #: dimension when its constructor takes ``dim``.
    wraps_features: ClassVar[bool] = False

    def wrap_features(self, z: Tensor) -> list[Tensor]:
        """Features mode, ``wraps_features`` methods: one view of the representation ``z`` per task."""
        raise NotImplementedError(f"{type(self).__name__} does not wrap the shared representation")

    def on_features(self, features: Sequence[Tensor]) -> None:
        """Features mode: the shared representation (batch dimension first) whose per-task gradients form
        the columns of the next Jacobian, in the same order; called just before that Jacobian is combined.

        Methods that need the batch structure of the representation (GradDrop's sign purity) keep it for
        the next call. Default: nothing.
        """

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
        (direction,) = self.combine_blocks([jacobian], losses, gramian=jacobian @ jacobian.T)
        return direction

    def combine_blocks(
        self, blocks: Sequence[Tensor], losses: Tensor | None = None, *, gramian: Tensor | None = None
    ) -> list[Tensor]:
        """One step of the method on a Jacobian given as blocks: the direction, block by block.

        The one place a gradient method's step is taken (:meth:`aggregate` and ``multitask.backward``
        both call it). ``blocks`` are ``[T, *shape_p]`` tensors, one per input (their rows concatenated
        are ``J``); ``gramian`` is ``J Jᵀ`` when the caller has it. ``needs = "gramian"``: ``w`` from
        :meth:`weights`, ``d_p = wᵀJ_p`` (``J`` is never concatenated); ``needs = "jacobian"``:
        :meth:`direction` on the concatenated ``J``, split back into blocks. Sets ``last_weights`` (the
        weights, or what :meth:`direction` recorded) and counts the step; a direction of the wrong shape
        or with non-finite entries raises ``ValueError`` and counts nothing.

        A Gramian method's :meth:`weights` runs on the host (:func:`~multitask.core.gramian.to_host`: one
        device→host copy of ``G`` and the losses, free when they are host tensors already) and its weights
        return in one non-blocking copy; the direction's finiteness is then decided on the host too (a
        bound from ``w`` and ``G``), so such a step synchronises with the device once.
        """
        self.last_weights = None
        if self.needs == "gramian":
            gram = jac.gramian_from_blocks(blocks) if gramian is None else gramian
            # the solver runs on the host: one device→host copy, none when the caller passed host tensors
            host_gram, host_losses = to_host(gram, losses)
            host_w = self.weights(host_gram, host_losses).detach()  # type: ignore[arg-type]
            weights = to_device(host_w, blocks[0].device)  # non-blocking
            self.last_weights = weights
            direction = jac.combine_blocks(weights, blocks)
            if _bounded(host_w, host_gram, blocks[0].dtype):  # type: ignore[arg-type]
                self.step_count += 1
                return direction
        else:
            full = jac.concat_blocks(blocks)
            flat = self.direction(full, losses)
            if flat.shape != (full.shape[1],):
                raise ValueError(f"{type(self).__name__} returned a direction of shape {tuple(flat.shape)}")
            direction = jac.split_direction(flat, [b[0] for b in blocks])
        if not bool(torch.isfinite(torch.stack(torch._foreach_norm(direction))).all()):
            raise ValueError(f"{type(self).__name__} produced a non-finite direction")
        self.step_count += 1
        return direction


def _bounded(weights: Tensor, gramian: Tensor, dtype: torch.dtype) -> bool:
    """Whether ``wᵀJ`` is finite in ``dtype``, decided on the host from ``w`` and ``G = J Jᵀ`` alone.

    Every partial sum of an entry ``Σₜ wₜ Jₜₖ`` is at most ``Σₜ |wₜ| ‖gₜ‖ = Σₜ |wₜ| √Gₜₜ`` in magnitude;
    when that bound is finite and below half the dtype's largest number (room for rounding), the direction
    cannot overflow, so its finiteness needs no device synchronisation. ``False``: check on the device.
    """
    if weights.shape != gramian.shape[:1] or not dtype.is_floating_point:
        return False
    w = weights.to(torch.float64)
    norms = gramian.diagonal().to(torch.float64).clamp_min(0.0).sqrt()
    bound = float((w.abs() * norms).sum())
    return math.isfinite(bound) and bound < 0.5 * torch.finfo(dtype).max


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
