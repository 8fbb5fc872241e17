"""The issue-14 bench suites: names checked; tiny smoke runs only (the full suites are not run in tests)."""

from __future__ import annotations

import copy

from multitask.bench.runner import Grid, check_grid, run_grid, suite_grid
from multitask.train.config import Config, apply_overrides

TINY = {"kwargs": {"n_train": 64, "n_val": 32, "n_test": 32}, "batch_size": 16, "eval_batch_size": 64}


def test_partial_suite_keeps_ten_percent_of_one_task_and_overrides_the_fraction():
    grid = suite_grid("partial")
    check_grid(grid)
    assert grid.base["data"]["label_fraction"] == {"right": 0.1} and grid.seeds == [0, 1, 2]
    assert {"famo", "dwa", "nash_mtl", "ew"} <= set(grid.methods)
    cfg = Config.from_dict(apply_overrides(grid.base, ["data.label_fraction.right=0.5"]))
    assert cfg.data.label_fraction == {"right": 0.5}


def test_partial_suite_smoke(tmp_path):
    base = copy.deepcopy(suite_grid("partial").base)
    base["data"].update(TINY)
    base["data"]["label_fraction"] = {"right": 0.25}
    base["train"] = {"epochs": 1, "tensorboard": False}
    records = run_grid(Grid(base=base, architectures=["hps"], methods=["famo"]), tmp_path, jobs=1, log=print)
    assert [r["status"] for r in records] == ["ok", "ok"]


def test_domains_suite_smoke(tmp_path):
    grid = suite_grid("domains")
    check_grid(grid)
    base = copy.deepcopy(grid.base)
    base["data"].update({"batch_size": 16, "eval_batch_size": 64})
    base["data"]["kwargs"] = {"n_train": 32, "n_val": 16, "n_test": 16}
    base["train"] = {"epochs": 1, "tensorboard": False}
    records = run_grid(Grid(base=base, architectures=["hps"], methods=["mgda"]), tmp_path, jobs=1, log=print)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert set(records[1]["test"]) == {"plain", "inverted", "rotated", "textured"}


def test_many_suite_smoke(tmp_path):
    grid = suite_grid("many")
    check_grid(grid)
    assert grid.base["data"]["kwargs"]["num_tasks"] >= 20
    base = copy.deepcopy(grid.base)
    base["data"].update({"batch_size": 32, "eval_batch_size": 64})
    base["data"]["kwargs"].update({"n_train": 64, "n_val": 32, "n_test": 32})
    base["train"] = {"epochs": 1, "tensorboard": False}
    grid = Grid(base=base, architectures=["hps"], methods=["upgrad"])
    records = run_grid(grid, tmp_path, jobs=1, log=print)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert len(records[1]["test"]) == 24
