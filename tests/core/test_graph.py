"""Autograd-graph walks: which leaves a set of outputs reaches, and where a walk stops."""

from __future__ import annotations

import torch

from multitask.core.graph import reachable_leaves, walk


def _ids(tensors: list[torch.Tensor]) -> set[int]:
    return {id(t) for t in tensors}


def test_leaves_of_a_small_graph() -> None:
    a = torch.randn(3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    c = torch.randn(3)  # no grad: never a leaf of the walk
    unused = torch.randn(3, requires_grad=True)
    y = ((a * 2 + b) * c).sum()
    leaves = reachable_leaves([y])
    assert set(leaves) == _ids([a, b])
    assert leaves[id(a)] is a and id(unused) not in leaves


def test_roots_that_are_leaves() -> None:
    a = torch.randn(2, requires_grad=True)
    frozen = torch.randn(2)
    assert set(reachable_leaves([a, frozen])) == _ids([a])


def test_walk_stops_at_stop_nodes() -> None:
    enc_w = torch.randn(3, requires_grad=True)
    head_w = torch.randn(3, requires_grad=True)
    z = torch.tanh(enc_w * 3.0)  # the shared representation
    y = (z * head_w).sum()
    leaves, visited = walk([y], stop={z.grad_fn})
    assert set(leaves) == _ids([head_w])  # enc_w lies behind the stop node
    assert z.grad_fn in visited
    assert set(reachable_leaves([y])) == _ids([enc_w, head_w])


def test_a_shared_subgraph_is_visited_once() -> None:
    a = torch.randn(4, requires_grad=True)
    h = a.exp()  # used by both branches (a diamond)
    y1, y2 = (h * 2).sum(), (h + 1).sum()
    _, visited = walk([y1, y2])
    # nodes: 2 SumBackward, MulBackward, AddBackward, ExpBackward, AccumulateGrad(a) -- each once
    assert len(visited) == 6
    assert h.grad_fn in visited
