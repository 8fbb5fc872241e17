"""Host synchronisations per step of the Gramian methods, counted without a GPU.

On a GPU, every read of a device value by Python (``.item()``, ``bool()``, ``float()``, ``.tolist()``,
``.cpu()``), every op whose output size depends on values (``nonzero``, boolean-mask indexing,
``masked_select``, ``unique``) and every linear-algebra op that checks its ``info`` flags on the host
(``linalg.solve``, ``eigh``, ``svd``, ``pinv``, ``lstsq``) waits for the device's queue to drain. This
test replays one ``multitask.backward`` step on the CPU under a dispatch mode that flags those ops, and
tracks which tensors would live on the host on a GPU: the outputs of
:func:`~multitask.core.gramian.to_host` (replaced here by a copy counted as one synchronisation), and
everything computed only from them or created while the method solves on the host. Ops on host tensors
cost nothing and are not counted; an op mixing a host tensor (more than a scalar) with a device tensor is
an error (it would raise on a GPU). The real count on a GPU comes from ``benchmarks/gpu_check.py``
(``torch.cuda.set_sync_debug_mode``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

import multitask as mt
from multitask import _backward_base
from multitask.methods import base as method_base

# ops that synchronise a CUDA stream with the host whatever their arguments
_ALWAYS = (
    "_local_scalar_dense",
    "nonzero",
    "masked_select",
    "_unique",
    "unique_",
    "_linalg_check_errors",
    "_linalg_eigh",
    "_linalg_svd",
    "linalg_pinv",
    "linalg_lstsq",
    "repeat_interleave",
    "equal",
    "lift_fresh",  # torch.tensor(python data, device=cuda): a pageable host→device copy
)


class SyncCounter(TorchDispatchMode):
    """Counts would-be CUDA synchronisations of ops on device tensors (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.host: dict[int, object] = {}
        self.solving = False
        self.syncs: list[str] = []
        self.mixed: list[str] = []

    def is_host(self, x: torch.Tensor) -> bool:
        ref = self.host.get(id(x))
        return ref is not None and ref() is x  # type: ignore[operator]

    def mark(self, x: torch.Tensor, host: bool = True) -> None:
        import weakref

        if host:
            self.host[id(x)] = weakref.ref(x)
        else:
            self.host.pop(id(x), None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [x for x in pytree.tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]
        flags = [self.is_host(x) for x in tensors]
        base = str(func).split(".")[1] if str(func).startswith("aten.") else str(func)
        # a factory (or torch.tensor(python data): lift_fresh) makes a host tensor while the method solves
        host_op = all(flags) if tensors and base != "lift_fresh" else self.solving
        if not host_op:
            if base in _ALWAYS or any(base.startswith(a) for a in ("_unique", "unique")):
                self.syncs.append(str(func))
            elif base in ("index", "index_put", "index_put_") and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in pytree.tree_leaves(args[1:2])
            ):
                self.syncs.append(f"{func} (boolean mask)")
            if any(f and x.dim() > 0 for f, x in zip(flags, tensors)):
                self.mixed.append(str(func))
        out = func(*args, **kwargs)
        if host_op:
            for x in pytree.tree_leaves(out):
                if isinstance(x, torch.Tensor):
                    self.mark(x)
        return out


@pytest.fixture
def counter(monkeypatch):
    c = SyncCounter()

    def fake_to_host(*tensors):
        if all(x is None or c.is_host(x) for x in tensors):  # the real one: host tensors stay as they are
            c.solving = True
            return list(tensors)
        out = []
        with torch.no_grad():
            for x in tensors:
                if x is None:
                    out.append(None)
                    continue
                y = x.detach().clone()
                c.mark(y)
                out.append(y)
        c.syncs.append("to_host (the one device→host copy)")
        c.solving = True
        return out

    def fake_to_device(x, device):
        c.solving = False
        y = x.clone()
        c.mark(y, host=False)  # non-blocking copy from pinned memory: no synchronisation
        return y

    monkeypatch.setattr(_backward_base, "to_host", fake_to_host)
    monkeypatch.setattr(method_base, "to_host", fake_to_host)
    monkeypatch.setattr(method_base, "to_device", fake_to_device)
    for name in ("tolist", "numpy", "cpu"):
        original = getattr(torch.Tensor, name)

        def reader(self, *a, _orig=original, _name=name, **k):
            if not c.is_host(self):
                c.syncs.append(f"Tensor.{_name}")
            return _orig(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, reader)
    return c


GRAMIAN_METHODS = {
    "mgda": {},
    "cagrad": {},
    "fairgrad": {},
    "nash_mtl": {},
    "upgrad": {},
    "dualproj": {},
    "imtl_g": {},
    "aligned_mtl": {},
    "config": {},
    "pcgrad": {"seed": 0},
    "gradvac": {"seed": 0},
    "pmtl": {"num_preferences": 5},
}


def _problem(tasks: int, seed: int = 0):
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 10))
    heads = nn.ModuleList([nn.Linear(10, 1) for _ in range(tasks)])
    x = torch.randn(16, 6)
    ys = torch.randn(tasks, 16, 1)

    def losses():
        z = enc(x)
        return {f"t{i}": ((h(z) - y) ** 2).mean() for i, (h, y) in enumerate(zip(heads, ys))}, z

    return enc, losses


def _mark_plain_state(method: nn.Module, counter: SyncCounter) -> None:
    """A method's plain tensor attributes (not parameters or buffers, which ``.to(device)`` moves) were
    made on the host by its earlier host solves or at construction: mark them so."""
    for key, value in vars(method).items():
        if key.startswith("_"):
            continue
        for x in pytree.tree_leaves(value):
            if isinstance(x, torch.Tensor):
                counter.mark(x)


def _count(name: str, tasks: int, mode: str, counter: SyncCounter) -> tuple[list[str], list[str]]:
    hp = dict(GRAMIAN_METHODS[name])
    if name == "pmtl":
        hp["num_tasks"] = tasks
    method = mt.create_method(name, **hp)
    enc, losses = _problem(tasks)
    found: list[tuple[list[str], list[str]]] = []
    for _step in range(2):  # the second step sees the method's state (warm starts, EMA targets)
        _mark_plain_state(method, counter)
        ls, z = losses()
        counter.syncs.clear()
        counter.mixed.clear()
        with counter:
            mt.backward(ls, method, shared=enc.parameters(), features=z if mode == "features" else None)
        counter.solving = False
        found.append((list(counter.syncs), list(counter.mixed)))
    return found[-1]


@pytest.mark.parametrize("name", sorted(GRAMIAN_METHODS))
def test_one_sync_per_step_whatever_t(name, counter):
    for mode in ("features", "parameters"):
        per_t = {}
        for tasks in (2, 20):
            syncs, mixed = _count(name, tasks, mode, counter)
            assert not mixed, f"{name} ({mode}, T={tasks}) mixes host and device tensors in {mixed}"
            per_t[tasks] = syncs
        assert per_t[2] == per_t[20], f"{name} ({mode}): syncs depend on T: {per_t}"
        assert per_t[20] == ["to_host (the one device→host copy)"], f"{name} ({mode}): {per_t[20]}"


def test_counter_sees_syncs_outside_the_host_solve(counter):
    """The instrument can fail: a method that reads a device value before the host copy is caught."""

    class Peeking(method_base.GradientMethod):
        needs = "gramian"

        def combine_blocks(self, blocks, losses=None, *, gramian=None):
            float(blocks[0].abs().max())  # a device read: one sync on a GPU
            return super().combine_blocks(blocks, losses, gramian=gramian)

        def weights(self, gramian, losses=None):
            return torch.full((gramian.shape[0],), 0.5, dtype=gramian.dtype)

    enc, losses = _problem(3)
    ls, z = losses()
    with counter:
        mt.backward(ls, Peeking(), shared=enc.parameters(), features=z)
    assert "aten._local_scalar_dense.default" in counter.syncs
    assert len(counter.syncs) == 2


def test_counter_sees_host_device_mixing(counter):
    class Mixing(method_base.GradientMethod):
        needs = "gramian"

        def __init__(self, device_tensor):
            super().__init__()
            self.device_tensor = device_tensor

        def weights(self, gramian, losses=None):
            return gramian.diagonal() * self.device_tensor  # host · device: raises on a GPU

    enc, losses = _problem(3)
    ls, z = losses()
    with counter:
        mt.backward(ls, Mixing(torch.ones(3)), shared=enc.parameters(), features=z)
    assert counter.mixed
