"""``python -m multitask.bench.sharing_suite``: an alias of ``multitask bench --suite sharing``.

The ``sharing`` and ``sharing-dense`` suites are ordinary benchmark suites
(:data:`multitask.bench.suites.SUITES`): ``multitask bench --suite sharing`` runs them through the grid
runner, the searches (AdaShare, Learning to Branch, BMTAS) in two phases each
(:mod:`multitask.train.phases`). This module keeps the older command working with the same options
(``--suite``, ``--out``, ``--seeds``, ``--jobs``) and writes the same report.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import Any

from multitask.bench.suites import SUITES as _ALL

NAMES = ("sharing", "sharing-dense")
SEARCHES = ("adashare", "learning_to_branch", "bmtas")


def sharing_suites() -> dict[str, dict[str, Any]]:
    """A copy of the two learned-sharing suite definitions."""
    return {name: copy.deepcopy(_ALL[name]) for name in NAMES}


def main(argv: list[str] | None = None) -> int:
    from multitask.bench.html_report import build_report
    from multitask.bench.records import grid_title
    from multitask.bench.runner import default_jobs, run_grid, suite_grid

    parser = argparse.ArgumentParser(description="learned-sharing benchmark suites (= multitask bench)")
    parser.add_argument("--suite", default="sharing", choices=NAMES)
    parser.add_argument("--out", default=None, help="output folder (default: bench_out/<suite>)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the suite's")
    parser.add_argument("--jobs", type=int, default=None, help="runs at once (default 2)")
    args = parser.parse_args(argv)
    grid = suite_grid(args.suite, seeds=args.seeds)
    out = Path(args.out or f"bench_out/{args.suite}")
    t0 = time.perf_counter()
    records = run_grid(grid, out, jobs=args.jobs or default_jobs(), title=grid_title(grid))
    print(build_report(records, out, title=grid_title(grid))["markdown"])
    print(f"grid wall time: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
