"""One prepared run of the GPU checks of issue 16 (≈ 5–8 minutes on one H200), written to a file.

Sections (each prints a markdown table; a failing section is reported and the run goes on):

1. ``syncs``: host synchronisations per ``multitask.backward`` step of every Gramian method (features and
   parameters mode, T = 2 and 20), counted by CUDA itself (``torch.cuda.set_sync_debug_mode("warn")``: one
   warning per synchronising call). On a CPU this section is skipped (nothing synchronises); the CPU test
   ``tests/test_backward_syncs.py`` emulates the count.
2. ``memory``: peak tensor memory (``torch.cuda.max_memory_allocated`` above the memory held before the
   step) of one parameters-mode step: the naive per-task loop, the engine's loop, the engine's batched VJP
   with the default memory-bounded chunks, and the batched VJP with all rows at once; the floor is "the
   naive loop's + one Jacobian" (``J`` = T × shared parameters × 4 bytes).
3. ``engine``: the engine's parameters-mode step time ÷ the naive loop's (loop / batched strategies,
   interleaved), as ``benchmarks/step_time.py --engine-vs-naive``.
4. ``compile``: features-mode UPGrad step time eager vs ``jacobian.compiled("inductor")`` (first-step
   compile excluded) and their largest gradient difference.
5. ``peers``: ``benchmarks/peers.py`` on the device for the Gramian methods (ratios to EW, the naive loop
   and the installed peers; peak-memory ratios).

Run on a GPU:  ``PYTHONPATH=$PWD/src python benchmarks/gpu_check.py --device cuda --out gpu_check.txt``
Smoke test here: ``PYTHONPATH=$PWD/src python benchmarks/gpu_check.py --device cpu --quick --out x.txt``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import io
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path

import torch
from torch import nn

import multitask as mt
from multitask.core import jacobian as jac
from multitask.methods.base import GradientMethod

HERE = Path(__file__).resolve().parent
SECTIONS = ("syncs", "memory", "engine", "compile", "peers")
GRAMIAN = ["mgda", "cagrad", "fairgrad", "nash_mtl", "upgrad", "dualproj", "imtl_g", "aligned_mtl", "config",
           "pcgrad"]  # fmt: skip


def _load(name: str):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _losses(enc, heads, x, ys):
    z = enc(x)
    return {f"t{i}": nn.functional.cross_entropy(h(z), y) for i, (h, y) in enumerate(zip(heads, ys))}, z


def section_syncs(device: torch.device, tasks: list[int]) -> str:
    if device.type != "cuda":
        return "skipped on the CPU (no device to synchronise with; see tests/test_backward_syncs.py)\n"
    st = _load("step_time")
    lines = [
        "| method | mode | " + " | ".join(f"T={t}" for t in tasks) + " |",
        "|---|---|" + "---|" * len(tasks),
    ]
    for name in GRAMIAN:
        for mode in ("features", "parameters"):
            cells = []
            for t in tasks:
                enc, heads, x, ys = st.build(t)
                method = mt.create_method(name)
                for _step in range(2):  # the second step is counted (warm caches, method state)
                    losses, z = _losses(enc, heads, x, ys)
                    feats = z if mode == "features" else None
                    _sync(device)
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        torch.cuda.set_sync_debug_mode("warn")
                        try:
                            mt.backward(losses, method, shared=enc.parameters(), features=feats)
                        finally:
                            torch.cuda.set_sync_debug_mode("default")
                    for p in [*enc.parameters(), *heads.parameters()]:
                        p.grad = None
                count = sum("synchroniz" in str(w.message) for w in caught)
                cells.append(str(count))
            lines.append(f"| {name} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


class _Uniform(GradientMethod):
    needs = "gramian"

    def weights(self, gramian, losses=None):
        return torch.full((gramian.shape[0],), 1.0 / gramian.shape[0], dtype=gramian.dtype)


def _engine_step(enc, heads, x, ys, how: str) -> None:
    losses, _ = _losses(enc, heads, x, ys)
    shared = list(enc.parameters())
    if how == "naive":
        _load("step_time").naive_loop_backward(losses, shared)
    else:
        strategy, _, chunk = how.partition(":")
        chunk_size = len(losses) if chunk == "all" else None
        mt.backward(losses, _Uniform(), shared=shared, strategy=strategy, chunk_size=chunk_size)
    for p in [*enc.parameters(), *heads.parameters()]:
        p.grad = None


def section_memory(device: torch.device, tasks: list[int]) -> str:
    if device.type != "cuda":
        return "skipped on the CPU (no allocator peak to read)\n"
    st = _load("step_time")
    hows = ["naive", "loop", "batched", "batched:all"]
    lines = [
        "| T | J MB | "
        + " | ".join(f"{h} MB" for h in hows)
        + " | batched ≤ naive + J | batched:all ≤ naive + J |",
        "|" + "---|" * (2 + len(hows) + 2),
    ]
    for t in tasks:
        enc, heads, x, ys = st.build(t)
        j_bytes = t * sum(p.numel() * p.element_size() for p in enc.parameters())
        peaks = {}
        for how in hows:
            _engine_step(enc, heads, x, ys, how)  # warm-up
            _sync(device)
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            _engine_step(enc, heads, x, ys, how)
            _sync(device)
            peaks[how] = torch.cuda.max_memory_allocated() - before
        mb = [f"{peaks[h] / 2**20:.1f}" for h in hows]
        ok = [str(peaks[h] <= peaks["naive"] + j_bytes) for h in ("batched", "batched:all")]
        lines.append(f"| {t} | {j_bytes / 2**20:.2f} | " + " | ".join(mb + ok) + " |")
    return "\n".join(lines) + "\n"


def section_engine(device: torch.device, tasks: list[int], steps: int) -> str:
    st = _load("step_time")
    hows = ["loop", "batched", "batched:all"]
    lines = [
        "| T | naive ms | " + " | ".join(f"{h} ÷ naive" for h in hows) + " |",
        "|" + "---|" * (2 + len(hows)),
    ]
    for t in tasks:
        enc, heads, x, ys = st.build(t)
        times: dict[str, list[float]] = {h: [] for h in ["naive", *hows]}
        for how in times:
            _engine_step(enc, heads, x, ys, how)  # warm-up
        for _ in range(steps):  # interleaved: load changes hit all alike
            for how in times:
                _sync(device)
                t0 = time.perf_counter()
                _engine_step(enc, heads, x, ys, how)
                _sync(device)
                times[how].append(time.perf_counter() - t0)
        med = {h: statistics.median(v) for h, v in times.items()}
        cells = [f"{med[h] / med['naive']:.2f}" for h in hows]
        lines.append(f"| {t} | {med['naive'] * 1e3:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def section_compile(device: torch.device, tasks: int, steps: int, backend: str) -> str:
    st = _load("step_time")
    enc, heads, x, ys = st.build(tasks)
    enc, heads, x, ys = enc.to(device), heads.to(device), x.to(device), [y.to(device) for y in ys]
    method = mt.create_method("upgrad")

    def step(ctx) -> list[torch.Tensor]:
        losses, z = _losses(enc, heads, x, ys)
        with ctx:
            mt.backward(losses, method, shared=enc.parameters(), features=z)
        grads = [p.grad.clone() for p in enc.parameters()]
        for p in [*enc.parameters(), *heads.parameters()]:
            p.grad = None
        return grads

    t0 = time.perf_counter()
    ref = step(contextlib.nullcontext())
    got = step(jac.compiled(backend))
    _sync(device)
    first = time.perf_counter() - t0
    diff = max(float((a - b).abs().max()) for a, b in zip(ref, got))
    times: dict[str, list[float]] = {"eager": [], backend: []}
    for _ in range(steps):
        for key, ctx in (("eager", contextlib.nullcontext), (backend, lambda: jac.compiled(backend))):
            _sync(device)
            t = time.perf_counter()
            step(ctx())
            _sync(device)
            times[key].append(time.perf_counter() - t)
    eager, comp = (statistics.median(times[k]) * 1e3 for k in ("eager", backend))
    return (
        f"UPGrad features mode, T={tasks}: eager {eager:.2f} ms, {backend} {comp:.2f} ms "
        f"(ratio {comp / eager:.2f}); first compiled step incl. compilation {first:.1f} s; "
        f"max |grad difference| {diff:.2e}\n"
    )


def section_peers(device: torch.device, tasks: list[int], steps: int, methods: list[str]) -> str:
    peers = _load("peers")
    buf = io.StringIO()
    argv = ["--device", str(device), "--tasks", *map(str, tasks), "--steps", str(steps), "--rounds", "2",
            "--modes", "parameters", "features", "--methods", *methods]  # fmt: skip
    with contextlib.redirect_stdout(buf):
        peers.main(argv)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", required=True, help="the report file (written as the sections finish)")
    ap.add_argument("--quick", action="store_true", help="smoke test: T=2, two methods, 2 steps")
    ap.add_argument("--compile-backend", default=None, help="default: inductor on CUDA, aot_eager on a CPU")
    ap.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS, help="default: all")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    backend = args.compile_backend or ("inductor" if device.type == "cuda" else "aot_eager")
    _load("step_time").DEVICE = device  # its model builder and runners use this device
    if args.quick:
        tasks, steps, methods, sync_tasks = [2], 2, ["ew", "upgrad"], [2]
    else:
        tasks, steps, sync_tasks = [2, 10, 40], 12, [2, 20]
        methods = [
            "ew",
            "upgrad",
            "dualproj",
            "mgda",
            "cagrad",
            "nash_mtl",
            "imtl_g",
            "aligned_mtl",
            "pcgrad",
        ]
    out = Path(args.out)
    tmp = out.with_name(out.name + ".partial")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    when = f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}"
    command = " ".join(argv if argv is not None else sys.argv[1:])
    text = [
        f"# gpu_check: {when}, device {device} ({name}), torch {torch.__version__}\n"
        f"# command: python benchmarks/gpu_check.py {command}\n"
    ]
    sections = [
        ("syncs per step (CUDA sync debug mode)", lambda: section_syncs(device, sync_tasks)),
        ("peak memory of one parameters-mode step", lambda: section_memory(device, tasks)),
        ("engine ÷ naive loop, parameters mode", lambda: section_engine(device, tasks, steps)),
        ("captured path", lambda: section_compile(device, tasks[-1] if args.quick else 10, steps,
                                                  backend)),
        ("peers", lambda: section_peers(device, tasks, steps, methods)),
    ]  # fmt: skip
    failed = 0
    for (title, fn), key in zip(sections, SECTIONS):
        if key not in args.sections:
            continue
        t0 = time.perf_counter()
        try:
            body = fn()
        except Exception:  # report and go on: one broken section must not cost the whole GPU run
            failed += 1
            body = "FAILED\n" + traceback.format_exc()
        text.append(f"\n## {title} ({time.perf_counter() - t0:.0f} s)\n\n{body}")
        print(text[-1], flush=True)
        tmp.write_text("".join(text), encoding="utf-8")
    tmp.replace(out)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
