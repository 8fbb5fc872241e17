import json

from multitask.bench.plots import make_plots, plot_run
from multitask.bench.report import summarize, write_report
from multitask.bench.runner import Grid, run_grid

BASE = {
    "data": {
        "name": "multimnist",
        "batch_size": 32,
        "eval_batch_size": 100,
        "kwargs": {"n_train": 96, "n_val": 64, "n_test": 64},
    },
    "model": {"backbone": "lenet"},
    "train": {"epochs": 2, "tensorboard": False},
}


def test_tiny_grid_writes_all_outputs_and_resumes(tmp_path):
    grid = Grid(base=BASE, architectures=["hps"], methods=["ew", "mgda"], seeds=[0])
    records = run_grid(grid, tmp_path, log=lambda msg: None)
    assert [(r["model"], r["method"], r["status"]) for r in records] == [
        ("single_task", "ew", "ok"),
        ("hps", "ew", "ok"),
        ("hps", "mgda", "ok"),
    ]
    for r in records:
        assert (tmp_path / "runs" / r["model"] / r["method"] / "seed0" / "result.json").is_file()
    md = write_report(records, tmp_path, title="tiny")
    assert (tmp_path / "results.csv").is_file() and (tmp_path / "results.md").read_text() == md
    assert "Δm_V" in md and "Δm_N" in md and "**" in md
    rows = {(r["model"], r["method"]): r for r in summarize(records)}
    assert rows[("single_task", "ew")]["delta_m_V"] == (0.0, None)  # one seed: no std
    pngs = make_plots(records, tmp_path)
    names = {p.name for p in pngs}
    assert {"val_curves_hps.png", "metric_bars_hps.png", "pareto_hps.png", "weights_hps.png"} <= names
    assert all(p.stat().st_size > 1000 for p in pngs)
    assert not any("single_task" in n for n in names)  # the baseline is the reference line, not an arch
    # one run's plots from its logs, into its folder (what `multitask train` draws)
    assert {p.name for p in plot_run(records[2]["dir"])} == {"curves.png", "weights.png", "cosines.png"}
    assert {p.name for p in plot_run(records[1]["dir"])} == {"curves.png"}  # EW: constant weights
    assert plot_run(tmp_path) == []  # nothing logged there

    logs = []
    again = run_grid(grid, tmp_path, log=logs.append)  # everything finished: nothing reruns
    assert all(msg.startswith("[skip]") for msg in logs) and len(logs) == 3
    assert [r["test"] for r in again] == [r["test"] for r in records]


def test_failing_method_is_recorded_not_fatal(tmp_path):
    grid = Grid(
        base=BASE, architectures=["hps"], methods=["ew"], seeds=[0], method_kwargs={"ew": {"scale": "bogus"}}
    )
    records = run_grid(grid, tmp_path, log=lambda msg: None)
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == 1 and "scale" in failed[0]["error"]
    err = json.loads((tmp_path / "runs" / "hps" / "ew" / "seed0" / "error.json").read_text())
    assert "bogus" in err["error"]
    assert "failed: " in write_report(records, tmp_path)


def test_report_marks_undefined_delta_m_instead_of_failing(tmp_path):
    hib = {"a": {"acc": True}, "b": {"err": False, "d1": True}}

    def rec(model, method, a, err, d1):
        return {
            "status": "ok",
            "model": model,
            "method": method,
            "seed": 0,
            "params": 10,
            "step_time_ms": 1.0,
            "higher_is_better": hib,
            "test": {"a": {"acc": a}, "b": {"err": err, "d1": d1}},
        }

    records = [rec("single_task", "ew", 0.5, 2.0, 0.0), rec("hps", "ew", 0.6, 1.0, 0.1)]
    rows = {(r["model"], r["method"]): r for r in summarize(records)}
    # Δm_V uses main metrics only: ((0.6 - 0.5) / 0.5 + (2 - 1) / 2) / 2 = 35 %
    assert abs(rows[("hps", "ew")]["delta_m_V"][0] - 35.0) < 1e-9
    assert rows[("hps", "ew")]["delta_m_N"] is None  # d1's baseline is 0: undefined, not a crash
    md = write_report(records, tmp_path)
    assert "delta_m_N undefined" in md and "'d1'" in md


def test_report_aggregates_seeds_and_flags_two_names_for_one_run(tmp_path):
    hib = {"a": {"acc": True}, "b": {"acc": True}}

    def rec(method, seed, a, b):
        return {"status": "ok", "model": "hps" if method != "ew0" else "single_task",
                "method": "ew" if method == "ew0" else method, "seed": seed, "params": 1,
                "step_time_ms": 1.0, "higher_is_better": hib, "test": {"a": {"acc": a}, "b": {"acc": b}},
                "val": {"a": {"acc": a}, "b": {"acc": b}}}  # fmt: skip

    records = [rec("ew0", 0, 0.5, 0.5), rec("ew0", 1, 0.5, 0.5)]
    records += [rec("fairgrad", s, 0.6, 0.4 + s / 10) for s in (0, 1)]
    records += [rec("nash_mtl", s, 0.6, 0.4 + s / 10) for s in (0, 1)]  # the same run, renamed
    records += [rec("mgda", 0, 0.6, 0.4), rec("mgda", 1, 0.6, 0.45)]  # equal on seed 0 only
    rows = {r["method"]: r for r in summarize(records) if r["model"] == "hps"}
    mean, std = rows["fairgrad"]["b/acc"]
    assert abs(mean - 0.45) < 1e-12 and abs(std - 0.0707106781) < 1e-9  # sample std over the seeds
    dm = [((0.6 - 0.5) / 0.5 + (0.4 + s / 10 - 0.5) / 0.5) / 2 * 100 for s in (0, 1)]
    assert abs(rows["fairgrad"]["delta_m_V"][0] - sum(dm) / 2) < 1e-9
    assert any("nash_mtl" in n for n in rows["fairgrad"]["notes"])
    assert any("fairgrad" in n for n in rows["nash_mtl"]["notes"])
    assert "notes" not in rows["mgda"]
    md = write_report(records, tmp_path)
    assert "0.4500 ± 0.0707" in md and "the same run under two names" in md


def test_report_of_many_tasks_shows_each_metric_averaged_over_the_tasks(tmp_path):
    tasks = [f"t{i}" for i in range(10)]
    hib = {t: {"rmse": False, "ev": True} for t in tasks}

    def rec(model, seed, shift):
        test = {t: {"rmse": 1.0 + shift + i / 10, "ev": 0.5 - shift} for i, t in enumerate(tasks)}
        return {"status": "ok", "model": model, "method": "ew", "seed": seed, "params": 1,
                "step_time_ms": 1.0, "higher_is_better": hib, "test": test}  # fmt: skip

    records = [rec("single_task", s, 0.0) for s in (0, 1)] + [rec("hps", 0, 0.1), rec("hps", 1, 0.3)]
    md = write_report(records, tmp_path)
    header = md.splitlines()[0]
    assert "mean of 10 tasks/rmse (↓)" in header and "mean of 10 tasks/ev (↑)" in header
    assert "t0/rmse" not in header and "Δm_V" in header
    hps = next(line for line in md.splitlines() if line.startswith("| hps"))
    # rmse: each seed's mean over tasks is 1.45 + shift -> seeds 1.55, 1.75: mean 1.65, std 0.1414
    assert "1.6500 ± 0.1414" in hps and "0.3000 ± 0.1414" in hps
    csv_header = (tmp_path / "results.csv").read_text().splitlines()[0]
    assert "t9/rmse mean" in csv_header and "mean of 10 tasks/rmse mean" in csv_header
