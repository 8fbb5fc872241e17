"""Time of the trace-norm prox with the partial SVD (ARPACK, leading triplets) vs the full SVD.

A ``--rows`` x ``--cols`` matrix of rank ``--rank`` plus Gaussian noise (0.1), ``t`` halfway between the
rank-th and the next singular value; prints each path's median time over ``--repeat`` calls, their ratio
and the largest difference of the two results.

Run:  ``.venv/bin/python benchmarks/trace_prox.py``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from multitask.classic import _prox


def _median_time(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=800)
    p.add_argument("--cols", type=int, default=600)
    p.add_argument("--rank", type=int, default=10)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    A = rng.standard_normal((args.rows, args.rank)) @ rng.standard_normal((args.rank, args.cols))
    A += 0.1 * rng.standard_normal((args.rows, args.cols))
    s = np.linalg.svd(A, compute_uv=False)
    t = float(s[args.rank - 1] + s[args.rank]) / 2
    partial = _prox.prox_trace(A, t)
    saved = _prox.PARTIAL_SVD_MIN
    _prox.PARTIAL_SVD_MIN = 10**9  # the full-SVD path
    try:
        full = _prox.prox_trace(A, t)
        t_full = _median_time(lambda: _prox.prox_trace(A, t), args.repeat)
    finally:
        _prox.PARTIAL_SVD_MIN = saved
    t_partial = _median_time(lambda: _prox.prox_trace(A, t), args.repeat)
    print(f"{args.rows} x {args.cols}, rank {args.rank} + noise, t between sigma_{args.rank} and the next")
    print(f"partial SVD {t_partial:.4f} s, full SVD {t_full:.4f} s, ratio {t_partial / t_full:.2f}")
    print(f"max |partial - full| = {np.abs(partial - full).max():.2e}")


if __name__ == "__main__":
    main()
