"""Many tasks (T = 40): the engine and the gradient methods' solvers give finite, well-formed steps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import multitask as mt
from multitask.methods import create_method

T = 40
METHODS = ["mgda", "upgrad", "cagrad", "imtl_g", "nash_mtl", "pcgrad", "aligned_mtl", "dualproj", "graddrop"]


@pytest.mark.parametrize("name", METHODS)
def test_forty_tasks_one_step(name):
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(8, 32), nn.Tanh()).double()
    heads = nn.ModuleList(nn.Linear(32, 1) for _ in range(T)).double()
    for head in heads:  # identical heads: the task gradients differ only through the targets
        head.load_state_dict(heads[0].state_dict())
    x = torch.randn(64, 8, dtype=torch.float64)
    groups = torch.randn(4, 8, dtype=torch.float64)
    ys = [torch.tanh(x @ groups[t % 4])[:, None] for t in range(T)]  # 4 planted groups of 10 tasks
    z = enc(x)
    losses = {f"t{t:02d}": ((heads[t](z) - ys[t]) ** 2).mean() for t in range(T)}
    method = create_method(name)
    info = mt.backward(losses, method, shared=list(enc.parameters()), features=z)
    assert info.cosines.shape == (T, T) and torch.isfinite(info.cosines).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc.parameters())
    if info.weights is not None:
        assert info.weights.shape == (T,) and torch.isfinite(info.weights).all()
    same = torch.tensor([[a % 4 == b % 4 for b in range(T)] for a in range(T)])
    off = ~torch.eye(T, dtype=torch.bool)
    assert info.cosines[same & off].mean() > info.cosines[~same].mean()  # the planted groups show
