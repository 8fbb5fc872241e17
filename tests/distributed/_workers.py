"""Code run inside the spawned gloo processes of the distributed tests (module level: spawn pickles it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

import multitask as mt
from multitask._backward import GradientOverflowError
from multitask.distributed import Reducer
from multitask.methods import create_method

#: (name, constructor kwargs) of the methods checked in both runs
LOSS_METHODS: list[tuple[str, dict[str, Any]]] = [
    ("ew", {}),
    ("uw", {"num_tasks": 3}),
    ("dwa", {"num_tasks": 3, "iters_per_epoch": 1}),
    ("gradnorm", {"num_tasks": 3}),
    ("famo", {"num_tasks": 3}),
    ("rlw", {"num_tasks": 3, "seed": 3}),
]
GRADIENT_METHODS: list[tuple[str, dict[str, Any]]] = [
    ("mgda", {}),
    ("pcgrad", {"seed": 1}),
    ("cagrad", {}),
    ("imtl_g", {}),
    ("nash_mtl", {}),
    ("upgrad", {}),
    ("aligned_mtl", {}),
]
#: needs the feature Jacobian itself: the all-gather path
JACOBIAN_FEATURE_METHODS: list[tuple[str, dict[str, Any]]] = [("graddrop", {"seed": 2})]

GLOBAL_BATCH, STEPS, TASKS = 8, 3, 3


class Tiny(nn.Module):
    """A shared encoder (features ``z``) and three linear heads."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 6), nn.Tanh())
        self.heads = nn.ModuleList(nn.Linear(6, 1) for _ in range(TASKS))

    def forward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        z = self.encoder(x)
        return z, {f"t{i}": h(z).squeeze(-1) for i, h in enumerate(self.heads)}


def data(step: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    x = torch.randn(GLOBAL_BATCH, 4, generator=g, dtype=torch.float64)
    y = torch.randn(GLOBAL_BATCH, TASKS, generator=g, dtype=torch.float64) * torch.tensor([1.0, 3.0, 0.3])
    return x, y


def train(
    name: str,
    kwargs: dict[str, Any],
    mode: str,
    rows: slice,
    reduce: Any,
    hook: Callable[[nn.Module, int], None] | None = None,
    scale: float | None = None,
) -> dict[str, Tensor]:
    """``STEPS`` SGD steps of ``Tiny`` with ``method`` on rows ``rows`` of each global batch."""
    torch.manual_seed(0)
    model = Tiny().double()
    method = create_method(name, **kwargs).double()
    opt = torch.optim.SGD([*model.parameters(), *method.parameters()], lr=0.1)
    for step in range(STEPS):
        x, y = data(step)
        x, y = x[rows], y[rows]
        z, preds = model(x)
        losses = {t: ((p - y[:, i]) ** 2).mean() for i, (t, p) in enumerate(preds.items())}
        mt.backward(
            losses,
            method,
            shared=list(model.encoder.parameters()),
            features=z if mode == "features" else None,
            reduce=reduce,
            grad_scale=scale,
        )
        if hook is not None:
            hook(model, step)
        if scale is not None:  # what GradScaler.unscale_ does
            for p in [*model.parameters(), *method.parameters()]:
                if p.grad is not None:
                    p.grad /= scale
        opt.step()
        opt.zero_grad(set_to_none=True)
    out = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    out.update({f"method.{k}": v.detach().clone() for k, v in method.named_parameters()})
    return out


def init(rank: int, world: int, store: Path) -> None:
    """Rendezvous through a file, not a TCP port picked in advance: another test (Ray, torchrun) running
    beside this one can take such a port between picking and binding."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=store.resolve().as_uri(), rank=rank, world_size=world)


def exact_worker(rank: int, world: int, out_dir: str) -> None:
    """Both modes, every method: this rank's half of the batch with a Reducer, and the one-process run."""
    init(rank, world, Path(out_dir) / "store")
    try:
        for mode in ("parameters", "features"):
            _exact(rank, world, mode, out_dir)
        dist.barrier()  # no rank tears its connections down while the other still works
    finally:
        dist.destroy_process_group()


def _exact(rank: int, world: int, mode: str, out_dir: str) -> None:
    size = GLOBAL_BATCH // world
    rows = slice(rank * size, (rank + 1) * size)
    methods = GRADIENT_METHODS + (JACOBIAN_FEATURE_METHODS if mode == "features" else LOSS_METHODS)
    results = {}
    for name, kwargs in methods:
        reducer = Reducer()
        parallel = train(name, kwargs, mode, rows, reducer)
        single = train(name, kwargs, mode, slice(None), None) if rank == 0 else None
        results[name] = {"parallel": parallel, "single": single, "bytes": reducer.bytes}
    # mixed precision: a loss scale changes nothing but .grad's scale, under data parallelism too
    for name, kwargs in [("upgrad", {}), *([("uw", {"num_tasks": 3})] if mode == "parameters" else [])]:
        parallel = train(name, kwargs, mode, rows, Reducer(), scale=1024.0)
        single = train(name, kwargs, mode, slice(None), None) if rank == 0 else None
        results[f"scaled_{name}"] = {"parallel": parallel, "single": single, "bytes": 1}
    results["overflow_raised"] = _overflow_on_one_rank(rank, mode)
    # plain DDP's rule: each rank balances its own batch, then the gradients are averaged
    plain = train("mgda", {}, mode, rows, None, hook=_average_grads)
    single = train("mgda", {}, mode, slice(None), None)
    results["plain_ddp_mgda"] = {"parallel": plain, "single": single, "bytes": 0}
    torch.save(results, Path(out_dir) / f"{mode}{rank}.pt")


def _overflow_on_one_rank(rank: int, mode: str) -> bool:
    """Only rank 1's scaled losses overflow: every rank must raise GradientOverflowError (none hangs)."""
    torch.manual_seed(0)
    model = Tiny().double()
    x, y = data(0)
    z, preds = model(x[rank * 4 : rank * 4 + 4])
    big = 1e30 if rank == 1 else 1.0
    losses = {
        t: big * ((p - y[rank * 4 : rank * 4 + 4, i]) ** 2).mean() for i, (t, p) in enumerate(preds.items())
    }
    try:
        mt.backward(
            losses, create_method("upgrad"), shared=list(model.encoder.parameters()),
            features=z if mode == "features" else None, reduce=Reducer(), grad_scale=1e290,
        )  # fmt: skip
    except GradientOverflowError:
        return True
    return False


def _average_grads(model: nn.Module, step: int) -> None:
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= dist.get_world_size()
