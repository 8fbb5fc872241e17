"""Data-parallel cost: step time and bytes communicated per step, for 1, 2 and 4 processes.

Each process trains a small MLP encoder (``--width``, 3 layers) with ``--tasks`` linear heads on its share
of a global batch (``--batch``), calling ``multitask.backward(..., reduce=Reducer())``. Configurations:

* ``ew``: equal weighting (a loss weighting: the loss vector and then every gradient are averaged);
* ``upgrad/parameters``: the per-task gradients of the shared parameters are all-reduced (``T`` times
  the bytes of plain DDP), the direction is computed identically on every rank;
* ``upgrad/features``: the ``T x T`` Gramian is all-reduced, then the gradients as for ``ew``.

Printed per configuration and process count: median step time (ms), its ratio to ``ew`` at the same
process count, bytes handed to the collectives per step (``Reducer.bytes``: the per-rank payload, not the
ring traffic) and their ratio to plain DDP's (one all-reduce of every parameter's gradient).

Run:  ``.venv/bin/python benchmarks/distributed.py`` (``--procs 1 2 4``, ``--steps 20``, ``--backend nccl``
on a machine with as many GPUs). The numbers depend on the machine: measure on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as tmp
from torch import nn

import multitask as mt
from multitask.distributed import Reducer
from multitask.methods import create_method

CONFIGS = [("ew", None), ("upgrad", "parameters"), ("upgrad", "features")]


def _model(width: int, tasks: int) -> tuple[nn.Module, nn.ModuleList]:
    encoder = nn.Sequential(
        nn.Linear(64, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
    )
    return encoder, nn.ModuleList(nn.Linear(width, 1) for _ in range(tasks))


def _worker(rank: int, world: int, port: int, args: argparse.Namespace, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    torch.set_num_threads(1)
    dist.init_process_group(args.backend, rank=rank, world_size=world)
    device = torch.device("cuda", rank) if args.backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    results = {}
    try:
        for name, mode in CONFIGS:
            torch.manual_seed(0)
            encoder, heads = (m.to(device) for m in _model(args.width, args.tasks))
            method = create_method(name)
            params = [*encoder.parameters(), *heads.parameters()]
            opt = torch.optim.SGD(params, lr=1e-3)
            reducer = Reducer()
            per = args.batch // world
            x = torch.randn(per, 64, device=device)
            y = torch.randn(per, args.tasks, device=device)
            times = []
            for step in range(args.steps + 2):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                z = encoder(x)
                losses = {f"t{i}": ((h(z).squeeze(-1) - y[:, i]) ** 2).mean() for i, h in enumerate(heads)}
                mt.backward(
                    losses, method, shared=list(encoder.parameters()),
                    features=z if mode == "features" else None, reduce=reducer,
                )  # fmt: skip
                opt.step()
                opt.zero_grad(set_to_none=True)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if step >= 2:  # warm-up
                    times.append(time.perf_counter() - t0)
            label = name if mode is None else f"{name}/{mode}"
            results[label] = {
                "ms": 1e3 * statistics.median(times),
                "bytes": reducer.bytes / (args.steps + 2),
                "ddp_bytes": sum(p.numel() * p.element_size() for p in params),
            }
    finally:
        dist.destroy_process_group()
    if rank == 0:
        Path(out).write_text(json.dumps(results))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--tasks", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--backend", default="gloo", choices=["gloo", "nccl"])
    args = p.parse_args()
    table = {}
    with tempfile.TemporaryDirectory() as d:
        for n in args.procs:
            out = str(Path(d) / f"{n}.json")
            tmp.spawn(_worker, args=(n, _free_port(), args, out), nprocs=n, join=True)
            table[n] = json.loads(Path(out).read_text())
    print(f"backend={args.backend} width={args.width} tasks={args.tasks} global batch={args.batch}")
    print(
        f"{'config':<20}{'procs':>6}{'ms/step':>10}{'x ew':>7}{'x 1 proc':>10}{'bytes/step':>12}{'x DDP':>7}"
    )
    for label in table[args.procs[0]]:
        for n in args.procs:
            r, ew, one = table[n][label], table[n]["ew"], table[args.procs[0]][label]
            print(
                f"{label:<20}{n:>6}{r['ms']:>10.2f}{r['ms'] / ew['ms']:>7.2f}{r['ms'] / one['ms']:>10.2f}"
                f"{r['bytes']:>12.0f}{r['bytes'] / r['ddp_bytes']:>7.2f}"
            )


if __name__ == "__main__":
    main()
