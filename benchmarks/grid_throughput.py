"""Wall time of one benchmark grid run serially vs as Ray tasks on a local Ray instance, as a ratio.

Setting: MultiMNIST (shipped digits, ``--n-train`` training images), hard parameter sharing on LeNet,
the single-task baseline and ``--methods`` (default EW, MGDA, PCGrad, CAGrad), ``--seeds`` (0 1),
``--epochs`` (2), one torch thread per run on both sides. The serial side is ``run_grid(jobs=1)`` in this
process; the Ray side starts a local instance with ``--workers`` CPUs (2), runs ``run_grid(ray=...)``
(one task per run, 1 CPU each) and stops it. Both grids write to fresh temporary folders. It prints
each wall time, the ratio serial / Ray (above 1: Ray is faster), the Ray instance's start-up time
(included in the Ray side, as a user meets it; also printed without it), and whether both sides gave
the same test metrics for every run (they should: same seeds, same thread count).

Run:  ``.venv/bin/python benchmarks/grid_throughput.py`` (``pip install 'multitask[ray]'``). Timings
need a quiet machine with at least ``--workers`` free cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from multitask.bench.runner import Grid, run_grid


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", nargs="+", default=["ew", "mgda", "pcgrad", "cagrad"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--n-train", type=int, default=1024)
    p.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance")
    args = p.parse_args()
    try:
        import ray
    except ImportError:
        print("needs ray: pip install 'multitask[ray]'", file=sys.stderr)
        return 2
    base = {
        "data": {"name": "multimnist", "batch_size": 64, "eval_batch_size": 500,
                 "kwargs": {"n_train": args.n_train, "n_val": 256, "n_test": 256}},
        "model": {"backbone": "lenet"},
        "train": {"epochs": args.epochs, "tensorboard": False},
    }  # fmt: skip
    grid = Grid(base=base, architectures=["hps"], methods=list(args.methods), seeds=list(args.seeds))
    runs = len(grid.seeds) * (1 + len(grid.methods))
    quiet = lambda msg: None  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="grid_throughput_") as tmp:
        t0 = time.perf_counter()
        serial = run_grid(grid, os.path.join(tmp, "serial"), jobs=1, log=quiet)
        t_serial = time.perf_counter() - t0

        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        t0 = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        t_start = time.perf_counter() - t0
        try:
            on_ray = run_grid(grid, os.path.join(tmp, "ray"), ray="local", log=quiet)
        finally:
            ray.shutdown()
        t_ray = time.perf_counter() - t0
    same = all(a["test"] == b["test"] for a, b in zip(serial, on_ray))
    failed = sum(r["status"] != "ok" for r in serial + on_ray)
    print(f"grid: {runs} runs (baseline + {len(grid.methods)} methods x {len(grid.seeds)} seeds), "
          f"{args.epochs} epochs, {args.n_train} training images; failed runs: {failed}")  # fmt: skip
    print(f"{'serial (1 process):':34s}{t_serial:8.1f} s")
    label = f"ray ({args.workers} workers, start-up included):"
    print(f"{label:34s}{t_ray:8.1f} s  (start-up {t_start:.1f} s)")
    print(f"{'ratio serial / ray:':34s}{t_serial / t_ray:8.2f}    (without the start-up: "
          f"{t_serial / max(t_ray - t_start, 1e-9):.2f})")  # fmt: skip
    print(f"same test metrics on every run: {same}")
    return 0 if same and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
