"""Training-step time of every registered method relative to equal weighting (EW).

Model: a 3-conv + linear encoder on 32x32x3 inputs (batch 64) with T linear heads, T in {2, 5, 10}.
A step is forward + ``multitask.backward`` + SGD step. For each method and mode (parameters /
features) it prints the median step time divided by EW's median step time measured in the same run,
plus two references:

* ``naive-loop``: T separate ``loss_t.backward(retain_graph=True)`` calls, copying the shared
  gradients after each, then their mean — what a user writes by hand;
* ``engine/<strategy>``: ``multitask.backward`` with a fixed-weight Gramian method (pure engine cost)
  for the ``loop`` and ``batched`` Jacobian strategies.

With ``--memory`` each cell also shows the configuration's peak memory relative to EW's (``m``): tensor
memory (``torch.cuda.max_memory_allocated``) on CUDA; on CPU the peak resident size of a fresh process,
which for this small model is dominated by the Python/torch runtime.

With ``--csv PATH`` the ratios are also written to a CSV (columns ``method,mode,tasks,ratio,ew_ms``;
``#`` comment lines first: the command, the machine, torch, the date). The documentation site's method
table reads ``docs/data/step_time.csv`` (``docs/hooks.py``); regenerate it with
``.venv/bin/python benchmarks/step_time.py --tasks 2 10 --steps 9 --threads 1 --csv docs/data/step_time.csv``.

Run:  ``.venv/bin/python benchmarks/step_time.py`` (add ``--tasks 2 10``, ``--methods ew mgda``,
``--steps 10``, ``--memory``, ``--csv out.csv``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

import multitask as mt
from multitask.methods.base import GradientMethod
from multitask.train.config import atomic_write_text
from multitask.train.trainer import build_method


class _Fixed(GradientMethod):
    needs = "gramian"

    def weights(self, gramian, losses=None):
        return torch.full(
            (gramian.shape[0],), 1.0 / gramian.shape[0], dtype=gramian.dtype, device=gramian.device
        )


DEVICE = torch.device("cpu")


def build(tasks: int, seed: int = 0):
    torch.manual_seed(seed)
    enc = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 128), nn.ReLU(),
    )  # fmt: skip
    heads = nn.ModuleList([nn.Linear(128, 10) for _ in range(tasks)])
    x = torch.randn(64, 3, 32, 32)
    ys = [torch.randint(0, 10, (64,)) for _ in range(tasks)]
    return enc.to(DEVICE), heads.to(DEVICE), x.to(DEVICE), [y.to(DEVICE) for y in ys]


def make_method(name: str, tasks: int):
    if name.startswith("engine/"):
        return _Fixed()
    if name == "naive-loop":
        return None
    # RotoGrad rotates the 128-d representation per task
    kwargs = {"dim": 128} if hasattr(mt.methods.METHODS.get(name), "rotate") else {}
    return build_method(name, kwargs, tasks)


def naive_loop_backward(losses: dict, shared: list) -> None:
    """The hand-written per-task loop: T ``loss.backward(retain_graph=True)`` calls, each task's shared
    gradients copied, then their mean written to ``.grad``."""
    rows = []
    for loss in losses.values():
        loss.backward(retain_graph=True)
        rows.append([p.grad.clone() for p in shared])
        for p in shared:
            p.grad = None
    for k, p in enumerate(shared):
        p.grad = torch.stack([r[k] for r in rows]).mean(0)


def one_step(name, method, mode, enc, heads, x, ys, opt):
    z = enc(x)
    zs = method.rotate(z) if hasattr(method, "rotate") else [z] * len(heads)
    losses = {
        f"t{i}": nn.functional.cross_entropy(h(zi), y) for i, (h, zi, y) in enumerate(zip(heads, zs, ys))
    }
    if name == "naive-loop":
        naive_loop_backward(losses, list(enc.parameters()))
    else:
        strategy = name.split("/")[1] if name.startswith("engine/") else "auto"
        features = z if mode == "features" else None
        if method.kind == "loss":
            features = None
        mt.backward(losses, method, shared=enc.parameters(), features=features, strategy=strategy)
    opt.step()
    opt.zero_grad(set_to_none=True)


class _Runner:
    """One configuration (model, data, method, optimizer) that can time a few steps at a time."""

    def __init__(self, name: str, mode: str, tasks: int) -> None:
        self.name, self.mode = name, mode
        self.enc, self.heads, self.x, self.ys = build(tasks)
        self.method = make_method(name, tasks)
        params = list(self.enc.parameters()) + list(self.heads.parameters())
        if self.method is not None:
            self.method.to(DEVICE)
            params += list(self.method.parameters())
        self.opt = torch.optim.SGD(params, lr=1e-3)

    def times(self, steps: int) -> list[float]:
        out = []
        for _ in range(steps):
            _sync()
            t0 = time.perf_counter()
            one_step(self.name, self.method, self.mode, self.enc, self.heads, self.x, self.ys, self.opt)
            _sync()
            out.append(time.perf_counter() - t0)
        return out


def time_config(name: str, mode: str, tasks: int, steps: int, warmup: int = 2) -> float:
    """Median step time of one configuration (seconds)."""
    runner = _Runner(name, mode, tasks)
    runner.times(warmup)
    return statistics.median(runner.times(steps))


def ratio_to_ew(
    name: str, mode: str, tasks: int, steps: int, rounds: int = 3, ref: str = "ew"
) -> tuple[float, float]:
    """(median step time of ``name`` / median step time of ``ref``, ``ref`` median) with the two
    interleaved in ``rounds`` rounds, so that load changes on the machine hit both alike."""
    ew, other = _Runner(ref, "parameters", tasks), _Runner(name, mode, tasks)
    ew.times(2)
    other.times(2)
    t_ew: list[float] = []
    t_other: list[float] = []
    per_round = max(1, steps // rounds)
    for _ in range(rounds):
        t_ew += ew.times(per_round)
        t_other += other.times(per_round)
    base = statistics.median(t_ew)
    return statistics.median(t_other) / base, base


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def supported(name: str, mode: str) -> bool:
    if name in ("naive-loop",) or name.startswith("engine/"):
        return mode == "parameters" or name.startswith("engine/")
    cls = mt.methods.METHODS.get(name)
    if mode == "features":
        return cls.kind == "gradient" and getattr(cls, "supports_features", False)
    return getattr(cls, "supports_parameters", True)


def peak_memory(name: str, mode: str, tasks: int) -> float:
    """Peak memory of a few training steps of one configuration.

    On CUDA: ``torch.cuda.max_memory_allocated`` (tensor memory) over 3 steps, in this process.
    On CPU: the peak resident size (``ru_maxrss``) of a fresh process that imports, builds and runs 3
    steps — for a model this small it is dominated by the Python/torch runtime, so ratios stay near 1.
    """
    if DEVICE.type == "cuda":
        runner = _Runner(name, mode, tasks)
        runner.times(1)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        runner.times(3)
        return float(torch.cuda.max_memory_allocated())
    code = (
        "import sys, json, resource; sys.path.insert(0, 'benchmarks'); import step_time as s;"
        f"s.time_config({name!r}, {mode!r}, {tasks}, steps=3, warmup=1);"
        "print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


CSV_COLUMNS = ("method", "mode", "tasks", "ratio", "ew_ms")


def machine_description() -> str:
    """CPU/GPU model, core count, torch threads and (on Linux) the load average when measured."""
    if DEVICE.type == "cuda":
        where = f"GPU {torch.cuda.get_device_name(DEVICE)}"
    else:
        cpu = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo", encoding="utf-8") as fh:
                cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
        except (OSError, StopIteration):
            pass
        where = f"CPU {cpu}, {os.cpu_count()} cores"
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average {:.2f} {:.2f} {:.2f} at the start".format(*os.getloadavg())
    return f"{where}, {torch.get_num_threads()} torch threads{load}; {platform.system()} {platform.release()}"


def csv_text(rows: list[tuple[str, str, int, float, float]], command: str, machine: str) -> str:
    """The CSV of the measurements: ``#`` comment lines (command, machine, versions, date), a header, rows.

    Rows whose measurement failed (``nan``) are left out: a reader shows a missing method as unmeasured.
    """
    lines = [
        f"# command: {command}",
        f"# machine: {machine}",
        f"# torch: {torch.__version__}; python: {platform.python_version()}",
        f"# date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        "# ratio: median step time of the method / median step time of EW (interleaved rounds, same run);"
        " ew_ms: that EW median",
        ",".join(CSV_COLUMNS),
    ]
    for name, mode, tasks, ratio, ew_ms in rows:
        if math.isfinite(ratio):
            lines.append(f"{name},{mode},{tasks},{ratio:.3f},{ew_ms:.2f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, nargs="+", default=[2, 5, 10])
    ap.add_argument("--methods", nargs="+", default=None)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--memory", action="store_true", help="also peak RSS per configuration (fresh process)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--csv", default=None, help="also write the ratios to this CSV (see above)")
    ap.add_argument(
        "--engine-vs-naive",
        action="store_true",
        help="only print the engine's parameters-mode step time / the naive loop's (interleaved)",
    )
    args = ap.parse_args(argv)
    global DEVICE
    DEVICE = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_description()  # before the run loads the machine
    names = ["naive-loop", "engine/loop", "engine/batched"] + (args.methods or mt.list_methods())
    print(
        f"torch {torch.__version__}, device {DEVICE}, {torch.get_num_threads()} threads, batch 64, "
        f"32x32x3, median of {args.steps} steps; ratios = step time / EW step time, interleaved\n"
    )
    time_config("ew", "parameters", args.tasks[0], steps=3)  # warm up the allocator and kernels
    if args.engine_vs_naive:
        print("| strategy | " + " | ".join(f"T={t}" for t in args.tasks) + " |")
        print("|" + "---|" * (1 + len(args.tasks)))
        for strategy in ("loop", "batched"):
            cells = [
                ratio_to_ew(f"engine/{strategy}", "parameters", t, args.steps, rounds=6, ref="naive-loop")[0]
                for t in args.tasks
            ]
            print(f"| engine/{strategy} ÷ naive-loop | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
        return
    header = "| method | mode | " + " | ".join(f"T={t}" for t in args.tasks) + " |"
    print(header)
    print("|" + "---|" * (2 + len(args.tasks)))
    base: dict[int, float] = {}
    base_mem = {t: peak_memory("ew", "parameters", t) for t in args.tasks} if args.memory else {}
    results = {}
    rows: list[tuple[str, str, int, float, float]] = []
    for name in names:
        for mode in ("parameters", "features"):
            if not supported(name, mode):
                continue
            is_loss = name in mt.methods.METHODS and mt.methods.METHODS.get(name).kind == "loss"
            mode_label = "loss" if is_loss else mode
            cells = []
            for t in args.tasks:
                try:
                    r, base[t] = ratio_to_ew(name, mode, t, args.steps)
                    cell = f"{r:.2f}"
                    if args.memory:
                        cell += f" ({peak_memory(name, mode, t) / base_mem[t]:.2f}m)"
                except Exception as err:  # report, keep going
                    r, cell = float("nan"), f"error: {type(err).__name__}"
                results[(name, mode, t)] = r
                rows.append((name, mode_label, t, r, base.get(t, float("nan")) * 1e3))
                cells.append(cell)
            print(f"| {name} | {mode_label} | " + " | ".join(cells) + " |", flush=True)
    print(
        "\nEW step time (ms, last measurement): "
        + json.dumps({t: round(base[t] * 1e3, 2) for t in args.tasks})
    )
    if args.csv:
        argv_shown = sys.argv[1:] if argv is None else argv
        command = "python benchmarks/step_time.py " + " ".join(shlex.quote(a) for a in argv_shown)
        atomic_write_text(args.csv, csv_text(rows, command.strip(), machine))
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
