"""Partial labels for :func:`multitask.backward`: a step without the absent tasks (``None`` losses).

The method runs on the present tasks' subset (``method.begin_subset`` / ``end_subset``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from torch import Tensor

from multitask._backward_base import LossesLike, StepInfo
from multitask.methods.base import Method


def _split_absent(losses: LossesLike) -> tuple[dict[str, Tensor], list[str], list[str]]:
    """``({present task: loss}, all task names, absent task names)``; ``None`` marks an absent task."""
    if isinstance(losses, Tensor):
        return {}, [], []
    if isinstance(losses, Mapping):
        items = [(str(k), v) for k, v in losses.items()]
    else:
        items = [(str(i), v) for i, v in enumerate(losses)]
    absent = [k for k, v in items if v is None]
    if absent and len(absent) == len(items):
        raise ValueError(
            f"every task is absent from this step (no labelled sample for {absent}): nothing to "
            "back-propagate; skip the step"
        )
    return {k: v for k, v in items if v is not None}, [k for k, _ in items], absent


def _subset_backward(
    backward: Callable[..., StepInfo],
    present: dict[str, Tensor],
    all_names: list[str],
    absent: list[str],
    method: Method,
    shared: Iterable[Tensor],
    features: Tensor | Sequence[Tensor] | None,
    retain_graph: bool,
    strategy: str,
    chunk_size: int | None,
    grad_scale: float | None = None,
) -> StepInfo:
    """``backward`` (:func:`multitask.backward`, passed in so that this module does not import it) on the
    present tasks, the method told which tasks of all of them these are."""
    index = [all_names.index(name) for name in present]
    method.begin_subset(index, len(all_names), absent)
    try:
        info = backward(
            present,
            method,
            shared=shared,
            features=features,
            retain_graph=retain_graph,
            strategy=strategy,
            chunk_size=chunk_size,
            grad_scale=grad_scale,
        )
    finally:
        method.end_subset()
    info.absent = list(absent)
    return info
