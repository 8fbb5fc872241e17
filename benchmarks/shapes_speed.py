"""Speed of the ``shapes`` scene generator: images per second on the current CPU (one thread).

The target (issue 4) is 1000 64x64 images in under 30 s on one core, i.e. at least ~33 images/s.

    python benchmarks/shapes_speed.py [--n 1000] [--size 64]
"""

from __future__ import annotations

import argparse
import time

import torch

from multitask.data.shapes import generate_shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of scenes (default 1000)")
    parser.add_argument("--size", type=int, default=64, help="image side (default 64)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generate_shapes(8, size=args.size, seed=123)  # warm-up
    start = time.perf_counter()
    generate_shapes(args.n, size=args.size, seed=0)
    seconds = time.perf_counter() - start
    rate = args.n / seconds
    target = 1000 / 30
    print(f"shapes: {args.n} images of {args.size}x{args.size} in {seconds:.1f} s = {rate:.1f} images/s "
          f"({rate / target:.2f}x the 33.3 images/s target; {'OK' if rate >= target else 'TOO SLOW'})")


if __name__ == "__main__":
    main()
