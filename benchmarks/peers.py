"""Step time, peak memory and first-step agreement of ``multitask`` against its peers: torchjd and LibMTL.

For every method that a peer also implements (checked in their installed source: torchjd 0.18's
``torchjd.aggregation`` / ``torchjd.scalarization``, LibMTL 1.1.5's ``LibMTL.weighting``), on the same model
and batch (a 3-conv + linear encoder, batch 64, 32x32x3 inputs, T linear heads, T in {2, 5, 10, 40}), one
training step (forward, the method's backward, SGD step) of

* ``ours``: ``multitask.backward`` (parameters mode, features mode, or a loss weighting);
* ``torchjd``: ``torchjd.autojac.mtl_backward`` + ``jac_to_grad(aggregator)`` (parameters mode); in
  features mode ``torchjd.autojac.jac`` w.r.t. the features, the aggregator, then the features'
  backward; a ``torchjd.scalarization`` scalarizer for the loss weightings;
* ``autogram``: torchjd's Gramian engine (``torchjd.autogram.Engine(encoder, batch_dim=None)``, the
  aggregator's Gramian weighting, ``losses.backward(weights)``), parameters mode, Gramian methods;
* ``LibMTL``: the ``LibMTL.weighting`` class on a model adapted to its interface (``rep_grad`` False for
  parameters mode, True for features mode), called as its ``Trainer`` does;
* ``naive``: T ``loss_t.backward(retain_graph=True)`` calls with the shared gradients copied after
  each, then their mean (the hand-written per-task loop; parameters mode);
* ``EW``: our equal weighting (one backward of the summed losses), the unit of the ``/EW`` column.

The runners of one (method, mode, T) cell are timed interleaved (a few steps of each in turn, over
``--rounds`` rounds, one process) so that load changes hit all alike; the table gives medians.
``cos`` is the cosine between our first-step update of the shared parameters and the peer's, from the same
initial model and batch (``~`` marks methods whose update is random: there it need not be 1).
Memory (``--device cuda``): ``torch.cuda.max_memory_allocated`` over two steps of each runner, as a ratio to
the peer's / the naive loop's; on the CPU it is not measured (this process' allocator keeps no peak).

LibMTL is loaded without its package ``__init__`` (which imports torchvision): stub package modules with
the installed folders as ``__path__`` are put in ``sys.modules`` and ``LibMTL.weighting.<Name>`` is
imported from its file. Its 1.1.5 code assumes torch 1.x's ``zero_grad()`` (zero-filled, not ``None``,
gradients); the adapter zero-fills likewise. A missing peer is reported and skipped.

Run (peers in their own venv, see README):
``PYTHONPATH=$PWD/src .peers-venv/bin/python benchmarks/peers.py`` (``--tasks 2 10``,
``--methods upgrad mgda``, ``--modes parameters``, ``--device cuda``, ``--quick`` for a smoke test,
``--json out.json`` to keep the numbers, ``--threads 1`` on a loaded machine). Other modes print one thing
and exit: ``--summary out.json`` (the README's range/median table), ``--count-syncs`` (our host
synchronisations per step), ``--profile upgrad features 40 ours`` (a ``torch.profiler`` table),
``--mgda-check 40`` (how close each implementation's MGDA gets to the min-norm point).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor


def _load(name: str):
    """``benchmarks/<name>.py`` by file path (``benchmarks`` is no package; ``sys.path`` unchanged)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # before running it: its dataclasses look their module up
        spec.loader.exec_module(mod)
    return sys.modules[name]


_impl = _load("_peers_impl")
SPECS, Spec, make_runner, peer_status = _impl.SPECS, _impl.Spec, _impl.make_runner, _impl.peer_status
_diag = _load("_peers_diag")
count_host_syncs, mgda_optimality = _diag.count_host_syncs, _diag.mgda_optimality
profile_table = _diag.profile_table


class Timer:
    """Wall time of one call on the CPU; ``torch.cuda.Event`` elapsed time on CUDA."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __call__(self, fn: Callable[[], None]) -> float:
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


def interleaved_medians(runners: dict, steps: int, rounds: int, warmup: int, device: torch.device) -> dict:
    """Median step time (s) of each runner, timed ``steps // rounds`` steps at a time in turn."""
    timer = Timer(device)
    for r in runners.values():
        for _ in range(warmup):
            r.step()
    times: dict[str, list[float]] = {k: [] for k in runners}
    per_round = max(1, steps // rounds)
    for _ in range(rounds):
        for k, r in runners.items():
            for _ in range(per_round):
                times[k].append(timer(r.step))
    return {k: statistics.median(v) for k, v in times.items()}


def peak_memory(runner, device: torch.device) -> float:
    """Peak tensor memory (bytes) over two steps on CUDA; NaN elsewhere."""
    if device.type != "cuda":
        return math.nan
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        runner.step()
    torch.cuda.synchronize()
    return float(torch.cuda.max_memory_allocated())


def machine(device: torch.device) -> str:
    """The device's name: the GPU's, or the CPU model from /proc/cpuinfo and the core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(x.split(":", 1)[1].strip() for x in lines if x.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"


def cosine(a: Tensor | None, b: Tensor | None) -> float:
    if a is None or b is None:
        return math.nan
    a, b = a.double(), b.double()
    den = a.norm() * b.norm()
    return float(a @ b / den) if den > 0 else math.nan


def measure_cell(
    spec: Spec,
    mode: str,
    tasks: int,
    steps: int,
    rounds: int,
    warmup: int,
    device: torch.device,
    peers: tuple[str, ...],
) -> dict:
    """Times (and first-step cosines, memory) of ours, the peers and the references for one cell."""
    built: dict = {}
    errors: dict[str, str] = {}
    names = ["ew", "ours"] + list(peers) + (["naive"] if mode == "parameters" else [])
    for impl in names:
        try:
            runner = make_runner(impl, spec, mode, tasks, device)
        except Exception as err:  # a peer without the method / mode, a missing dependency
            errors[impl] = f"{type(err).__name__}: {err}"[:120]
            continue
        if runner is not None:
            built[impl] = runner
    updates = {}
    for impl, runner in list(built.items()):
        try:
            updates[impl] = runner.first_update()
        except Exception as err:  # the peer fails on this input: report it, keep the others
            errors[impl] = f"{type(err).__name__}: {err}"[:120]
            del built[impl]
    medians = interleaved_medians(built, steps, rounds, warmup, device)
    memory = {k: peak_memory(r, device) for k, r in built.items()}
    cos = {k: cosine(updates.get("ours"), updates.get(k)) for k in built if k not in ("ours", "ew")}
    return {"times": medians, "memory": memory, "cos": cos, "errors": errors}


_SUMMARY_ROWS = (
    ("parameters", "naive", "naive per-task loop, parameters mode"),
    ("parameters", "torchjd", "torchjd autojac, parameters mode"),
    ("parameters", "autogram", "torchjd autogram, parameters mode"),
    ("parameters", "libmtl", "LibMTL, parameters mode"),
    ("features", "ew", "EW, features mode"),
    ("features", "torchjd", "torchjd (jac w.r.t. the features), features mode"),
    ("features", "libmtl", "LibMTL (`rep_grad`), features mode"),
    ("loss", "torchjd", "torchjd scalarizers, loss weightings"),
    ("loss", "libmtl", "LibMTL, loss weightings"),
)


def summary(results: list[dict]) -> str:
    """Markdown table of ``ours / X`` over the methods of a saved run: ``min–max (median)`` per T, with the
    number of methods that have X in each row."""
    tasks = sorted({r["tasks"] for r in results})
    lines = ["| ours ÷ | " + " | ".join(f"T={t}" for t in tasks) + " |", "|" + "---|" * (1 + len(tasks))]
    for mode, ref, label in _SUMMARY_ROWS:
        cells, methods = [], set()
        for t in tasks:
            vals = [
                r["times"]["ours"] / r["times"][ref]
                for r in results
                if r["mode"] == mode and r["tasks"] == t and "ours" in r["times"] and ref in r["times"]
            ]
            methods |= {r["method"] for r in results if r["mode"] == mode and ref in r["times"]}
            cells.append(f"{min(vals):.2f}–{max(vals):.2f} ({statistics.median(vals):.2f})" if vals else "—")
        if any(c != "—" for c in cells):
            lines.append(f"| {label} ({len(methods)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not (a > 0 and b > 0) or math.isnan(a) or math.isnan(b):
        return "—"
    return f"{a / b:.2f}"


def row(spec: Spec, mode: str, tasks: int, cell: dict, peers: tuple[str, ...]) -> str:
    t, mem, cos = cell["times"], cell["memory"], cell["cos"]
    ours = t.get("ours")
    parts = [spec.key, mode, str(tasks), f"{ours * 1e3:.1f}" if ours else "error", _ratio(ours, t.get("ew"))]
    parts.append(_ratio(ours, t.get("naive")) if mode == "parameters" else "—")
    for p in peers:
        if p in t:
            c = cos.get(p, math.nan)
            mark = "~" if spec.random else ""
            cell_txt = f"{_ratio(ours, t[p])} ({mark}{c:.3f})" if not math.isnan(c) else _ratio(ours, t[p])
            if not math.isnan(mem.get(p, math.nan)):
                cell_txt += f" m{_ratio(mem.get('ours'), mem[p])}"
            parts.append(cell_txt)
        else:
            parts.append("—" if p not in cell["errors"] else "fails")
    if not math.isnan(mem.get("ours", math.nan)):  # CUDA: the memory column is there for every row
        parts.append(_ratio(mem["ours"], mem.get("naive")))
    return "| " + " | ".join(parts) + " |"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, nargs="+", default=[2, 5, 10, 40])
    ap.add_argument("--methods", nargs="+", default=None, help="row keys (default: all shared)")
    ap.add_argument("--modes", nargs="+", default=["loss", "parameters", "features"])
    ap.add_argument("--steps", type=int, default=6, help="timed steps per runner (split over the rounds)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--peers", nargs="*", default=["torchjd", "autogram", "libmtl"], help="none: ours only")
    ap.add_argument("--quick", action="store_true", help="smoke test: T=2, EW and UPGrad, 2 steps")
    ap.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    ap.add_argument(
        "--profile", nargs=4, default=None, metavar=("METHOD", "MODE", "T", "IMPL"),
        help="only print a torch.profiler table of one runner, e.g. upgrad features 40 ours",
    )  # fmt: skip
    ap.add_argument("--summary", default=None, metavar="JSON", help="only summarise a saved --json run")
    ap.add_argument(
        "--count-syncs", action="store_true",
        help="only print our host synchronisations per step per cell (CUDA: counted by CUDA; CPU: "
        "tensor-to-Python conversions, an upper bound)",
    )  # fmt: skip
    ap.add_argument(
        "--mgda-check", type=int, default=None, metavar="T",
        help="only print each implementation's MGDA optimality (‖d‖², min_t g_t·d/‖d‖²) at T tasks",
    )  # fmt: skip
    args = ap.parse_args(argv)
    if args.summary:
        print(summary(json.loads(Path(args.summary).read_text())["results"]))
        return {}
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.tasks, args.steps, args.rounds, args.warmup = [2], 2, 1, 1
        args.methods = args.methods or ["ew", "upgrad"]
    status = peer_status()
    peers = tuple(p for p in args.peers if status.get(p, (False, ""))[0])
    for p in args.peers:
        ok, msg = status.get(p, (False, "unknown peer"))
        print(f"{p}: {msg}" if ok else f"{p}: MISSING ({msg}); its columns are skipped")
    if args.profile:
        key, mode, tasks, impl = args.profile
        print(profile_table(key, mode, int(tasks), impl, device))
        return {}
    if args.count_syncs:
        print("| method | mode | " + " | ".join(f"T={t}" for t in args.tasks) + " |")
        print("|" + "---|" * (2 + len(args.tasks)))
        for spec in (s for s in SPECS if s.key in (args.methods or [s.key for s in SPECS])):
            for mode in (m for m in args.modes if m in spec.modes):
                cells = [str(count_host_syncs(spec.key, mode, t, device=device)) for t in args.tasks]
                print(f"| {spec.key} | {mode} | " + " | ".join(cells) + " |", flush=True)
        return {}
    if args.mgda_check:
        for impl, (d2, kkt) in mgda_optimality(args.mgda_check, peers).items():
            print(
                f"MGDA T={args.mgda_check} {impl}: |d|^2 = {d2:.4e}, "
                f"min_t g_t.d/|d|^2 = {kkt:.5f} (>= 1 at the optimum)"
            )
        return {}
    print(
        f"torch {torch.__version__}, device {device}"
        + f" ({machine(device)})"
        + f", {torch.get_num_threads()} threads; batch 64, 32x32x3, 3-conv encoder, T linear heads; "
        f"median of {args.steps} steps per runner, {args.rounds} interleaved rounds\n"
    )
    print(
        "ratios: ours step time / X (X = EW, naive per-task loop, each peer); (cos) = cosine of the first "
        "update vs ours; m = peak memory ratio (CUDA)\n"
    )
    head = ["method", "mode", "T", "ours ms", "/EW", "/naive"] + [f"/{p}" for p in peers]
    if device.type == "cuda":
        head.append("mem/naive")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    keys = args.methods or [s.key for s in SPECS]
    unknown = [k for k in keys if k not in {s.key for s in SPECS}]
    if unknown:
        raise SystemExit(f"unknown method keys {unknown}; known: {[s.key for s in SPECS]}")
    results = []
    for spec in (s for s in SPECS if s.key in keys):
        for mode in args.modes:
            if mode not in spec.modes:
                continue
            for tasks in args.tasks:
                cell = measure_cell(spec, mode, tasks, args.steps, args.rounds, args.warmup, device, peers)
                print(row(spec, mode, tasks, cell, peers), flush=True)
                for impl, msg in cell["errors"].items():
                    print(f"    ({impl}: {msg})", flush=True)
                results.append({"method": spec.key, "mode": mode, "tasks": tasks, **cell})
    out = {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
           "peers": {p: status.get(p) for p in args.peers}, "results": results}  # fmt: skip
    if args.json:
        tmp = Path(args.json).with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=1, default=float))
        tmp.replace(args.json)
    return out


if __name__ == "__main__":
    main()
