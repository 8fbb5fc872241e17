"""Walk an autograd graph to find the leaf tensors that a set of outputs depends on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor


def walk(roots: Sequence[Tensor], stop: set[Any] | None = None) -> tuple[dict[int, Tensor], set[Any]]:
    """Leaves reachable from ``roots`` (``{id: tensor}``) and the graph nodes visited.

    The walk does not go past nodes in ``stop`` (they are recorded as visited). Cost: one visit per graph
    node.
    """
    stop = stop or set()
    leaves: dict[int, Tensor] = {}
    seen: set[Any] = set()
    stack = []
    for r in roots:
        if r.grad_fn is not None:
            stack.append(r.grad_fn)
        elif r.requires_grad:
            leaves[id(r)] = r
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node in stop:
            continue
        variable = getattr(node, "variable", None)
        if variable is not None:
            leaves[id(variable)] = variable
            continue
        for nxt, _ in node.next_functions:
            if nxt is not None and nxt not in seen:
                stack.append(nxt)
    return leaves, seen


def reachable_leaves(roots: Sequence[Tensor], stop: set[Any] | None = None) -> dict[int, Tensor]:
    """Leaves reachable from ``roots`` (see :func:`walk`)."""
    return walk(roots, stop)[0]
