"""The grid on Ray (one local 2-CPU instance for the module): the serial runs, retries, resumption."""

import csv
import os
from pathlib import Path

import pytest
from tests.bench._tiny import TINY_BASE, tiny_grid

from multitask.bench.runner import Grid, run_grid

ray = pytest.importorskip("ray", reason="the optional dependency ray (pip install 'multitask[ray]')")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # the workers inherit this environment
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT / "src"), str(ROOT),
                                                               os.environ.get("PYTHONPATH")])))  # fmt: skip
        mp.setenv("MULTITASK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine
        ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
        try:
            yield
        finally:
            ray.shutdown()


def _steps(record):
    with open(f"{record['dir']}/steps.csv", encoding="utf-8") as fh:
        return [{k: v for k, v in row.items() if k != "step_time"} for row in csv.DictReader(fh)]


def test_ray_grid_gives_the_serial_runs_and_a_rerun_trains_nothing(local_ray, _finished_tiny_grid, tmp_path):
    _, serial = _finished_tiny_grid  # trained in this process, one torch thread per run
    lines: list[str] = []
    got = run_grid(tiny_grid(), tmp_path, ray="local", log=lines.append)
    assert [(r["model"], r["method"], r["seed"]) for r in got] == [
        (r["model"], r["method"], r["seed"]) for r in serial
    ]
    assert all(r["status"] == "ok" for r in got)
    assert all("device: cpu" in Path(r["dir"], "config.yaml").read_text() for r in got)  # set for Ray tasks
    for a, b in zip(serial, got):  # same seeds, same metrics, every step's losses and weights
        assert a["test"] == b["test"] and a["val"] == b["val"] and _steps(a) == _steps(b)
    for seed in (0, 1):  # a seed's runs are submitted only after its baseline finished
        idx = [i for i, line in enumerate(lines) if f"/seed{seed}:" in line]
        assert "single_task/ew" in lines[idx[0]] and len(idx) == 3

    done = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("result.json")}
    again: list[str] = []
    run_grid(tiny_grid(), tmp_path, ray="local", log=again.append)  # finished: no task, nothing trains
    assert len(again) == 6 and all(line.startswith("[skip]") for line in again)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("result.json")} == done

    (tmp_path / "runs" / "hps" / "mgda" / "seed1" / "result.json").unlink()  # one run left to do
    partial: list[str] = []
    redo = run_grid(tiny_grid(), tmp_path, ray="local", log=partial.append)
    trained = [line.split(":")[0] for line in partial if not line.startswith("[skip]")]
    assert trained == ["[done] hps/mgda/seed1"]
    assert redo[-1]["test"] == serial[-1]["test"]


def test_a_killed_worker_is_retried_and_one_that_keeps_dying_is_recorded(local_ray, tmp_path):
    marker = tmp_path / "killed_once"
    crash = "tests.bench._crash_method"  # killed_once: its worker is killed on the first attempt
    once = {"name": f"{crash}:CrashOnce", "kwargs": {"marker": str(marker)}, "label": "killed_once"}
    methods = ["ew", once, {"name": f"{crash}:Crash", "label": "dies"}]
    grid = Grid(base=TINY_BASE, architectures=["hps"], methods=methods, seeds=[0])
    records = run_grid(grid, tmp_path / "grid", ray="local", ray_retries=1, log=lambda m: None)
    assert [(r["method"], r["status"]) for r in records] == [
        ("ew", "ok"), ("ew", "ok"), ("killed_once", "ok"), ("dies", "failed")
    ]  # fmt: skip
    assert marker.is_file()  # the first attempt was killed (SIGKILL of its worker), the retry trained
    assert records[2]["test"] == records[1]["test"]  # it is EW: the retry gives EW's numbers
    assert "Ray task failed (retried up to 1 times)" in records[3]["error"]
    assert (tmp_path / "grid" / "runs" / "hps" / "dies" / "seed0" / "error.json").is_file()


def test_a_run_the_cluster_cannot_hold_fails_at_once(local_ray, tmp_path):
    grid = Grid(base={**TINY_BASE, "resources": {"gpus": 1}}, architectures=["hps"], methods=["ew"])
    records = run_grid(grid, tmp_path, ray="local", log=lambda m: None)
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert all("needs 1 GPUs, the Ray cluster has 0" in r["error"] for r in records)


def test_a_run_past_the_timeout_is_cancelled_and_recorded(local_ray, tmp_path):
    hang = {"name": "tests.bench._crash_method:Hang", "label": "hangs"}
    grid = Grid(base=TINY_BASE, architectures=["hps"], methods=["ew", hang], seeds=[0])
    records = run_grid(grid, tmp_path, ray="local", ray_timeout=30.0, log=lambda m: None)
    got = [(r["method"], r["status"]) for r in records]
    assert got == [("ew", "ok"), ("ew", "ok"), ("hangs", "failed")], [r.get("error") for r in records]
    assert "timed out: still running 30 s after it started" in records[2]["error"]
    assert (tmp_path / "runs" / "hps" / "hangs" / "seed0" / "error.json").is_file()


@pytest.mark.parametrize("bad", [0, -1.0, True, "5"])
def test_a_bad_timeout_is_refused_before_anything_is_written(bad, tmp_path):
    grid = Grid(base=TINY_BASE, architectures=["hps"], methods=["ew"], seeds=[0])
    with pytest.raises(ValueError, match="ray timeout must be a number of seconds > 0"):
        run_grid(grid, tmp_path / "g", ray="local", ray_timeout=bad, log=lambda m: None)
    assert not (tmp_path / "g").exists()
