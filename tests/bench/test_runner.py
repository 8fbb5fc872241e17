"""The grid runner: names checked before training, the process pool gives the serial results."""

import csv

import pytest

import multitask as mt
from multitask.bench.report import summarize
from multitask.bench.runner import Grid, check_grid, parse_method, run_grid, suite_grid
from multitask.cli import main

BASE = {
    "data": {
        "name": "multimnist",
        "batch_size": 32,
        "eval_batch_size": 100,
        "kwargs": {"n_train": 64, "n_val": 32, "n_test": 32},
    },
    "model": {"backbone": "lenet"},
    "train": {"epochs": 2, "tensorboard": False},
}


def _steps(record):
    with open(f"{record['dir']}/steps.csv", encoding="utf-8") as fh:
        return [{k: v for k, v in row.items() if k != "step_time"} for row in csv.DictReader(fh)]


def test_pool_gives_the_serial_runs_bitwise_and_baselines_go_first(tmp_path):
    grid = Grid(base=BASE, architectures=["hps"], methods=["ew", "mgda"], seeds=[0, 1])
    serial = run_grid(grid, tmp_path / "serial", jobs=1, log=lambda m: None)
    lines: list[str] = []
    pooled = run_grid(grid, tmp_path / "pool", jobs=2, log=lines.append)
    key = [(r["model"], r["method"], r["seed"]) for r in serial]
    assert key == [(r["model"], r["method"], r["seed"]) for r in pooled] == [
        ("single_task", "ew", 0), ("single_task", "ew", 1),
        ("hps", "ew", 0), ("hps", "mgda", 0), ("hps", "ew", 1), ("hps", "mgda", 1),
    ]  # fmt: skip
    assert all(r["status"] == "ok" for r in serial + pooled)
    for a, b in zip(serial, pooled):
        assert a["test"] == b["test"] and a["val"] == b["val"]
        assert _steps(a) == _steps(b)  # losses, weights, cosines of every step, bitwise
    for seed in (0, 1):  # a seed's runs are queued only after its baseline finished
        idx = [i for i, line in enumerate(lines) if f"/seed{seed}:" in line]
        assert "single_task/ew" in lines[idx[0]] and len(idx) == 3
    again: list[str] = []
    run_grid(grid, tmp_path / "pool", jobs=2, log=again.append)  # resumable: nothing reruns
    assert len(again) == 6 and all(line.startswith("[skip]") for line in again)
    rows = {(r["model"], r["method"]): r for r in summarize(pooled)}
    mean, std = rows[("hps", "mgda")]["delta_m_V"]
    assert rows[("hps", "mgda")]["seeds"] == 2 and std is not None and std >= 0


def test_unknown_names_fail_before_any_training(tmp_path, capsys):
    grid = Grid(base={**BASE, "data": {**BASE["data"], "name": "multimnst"}}, architectures=["hsp"],
                methods=["cagrd", "pcgrad"], method_kwargs={"pcgrad": {"sead": 1}})  # fmt: skip
    with pytest.raises(ValueError) as err:
        run_grid(grid, tmp_path / "out", log=lambda m: None)
    message = str(err.value)
    for suggestion in ("'multimnist'", "'hps'", "'cagrad'", "'seed'"):  # all at once, closest names
        assert f"did you mean {suggestion}" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="'train.wrong_key'"):  # config keys too, before training
        check_grid(Grid(base={**BASE, "train": {"wrong_key": 1}}, architectures=["hps"], methods=["ew"]))

    assert main(["bench", "--methods", "cagrd", "--out", str(tmp_path / "cli")]) == 2
    assert "did you mean 'cagrad'" in capsys.readouterr().err
    assert not (tmp_path / "cli" / "runs").exists()


def test_a_dying_worker_is_a_failure_record_not_a_crash(tmp_path):
    grid = Grid(base=BASE, architectures=["hps"], methods=["tests.bench._crash_method:Crash"])
    records = run_grid(grid, tmp_path, jobs=2, log=lambda m: None)
    assert [r["status"] for r in records] == ["ok", "failed"]
    assert "worker process failed" in records[1]["error"]
    assert (tmp_path / "runs" / "hps" / "tests.bench._crash_method:Crash" / "seed0" / "error.json").is_file()


def test_method_entries_and_the_default_suite():
    assert parse_method("cagrad") == ("cagrad", "cagrad", {})
    assert parse_method("pmtl[preference_index=2, num_preferences=5]") == (
        "pmtl[preference_index=2, num_preferences=5]",
        "pmtl",
        {"preference_index": 2, "num_preferences": 5},
    )
    assert parse_method({"name": "pmtl", "kwargs": {"preference_index": 0}, "label": "p0"})[0] == "p0"
    for bad in ("pmtl[preference_index]", "pmtl[x=1", {"kwargs": {}}):
        with pytest.raises(ValueError):
            parse_method(bad)
    grid = suite_grid("default")
    assert grid.seeds == [0, 1, 2]
    entries = [parse_method(m) for m in grid.methods]
    names = {name for _, name, _ in entries}
    runnable = set(mt.list_methods())  # every registered method
    assert names == runnable and "rotograd" in names  # features-only RotoGrad runs in its features mode
    assert len({label for label, _, _ in entries}) == len(entries)  # no row twice
    pmtl = sorted(kw["preference_index"] for _, name, kw in entries if name == "pmtl")
    assert pmtl == [0, 2, 4]  # Pareto MTL spread over its preferences
    check_grid(grid)
