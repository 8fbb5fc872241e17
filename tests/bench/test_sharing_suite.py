import json

import pytest
import torch
import yaml

import multitask as mt
from multitask.bench.sharing_suite import SEARCHES, sharing_suites
from multitask.core.tasks import Task
from multitask.train.config import Config
from multitask.train.trainer import Trainer

TASKS = {
    "multimnist": ([Task("left", "classification", 10), Task("right", "classification", 10)], (1, 28, 28)),
    "shapes": (
        [
            Task("segmentation", "segmentation", 4),
            Task("depth", "depth", 1),
            Task("normals", "normals", 3),
            Task("edges", "edges", 1),
        ],
        (3, 32, 32),
    ),
}


@pytest.mark.parametrize("suite", sorted(sharing_suites()))
def test_every_suite_model_builds_and_runs(suite):
    spec = sharing_suites()[suite]
    base = spec["base"]
    tasks, shape = TASKS[base["data"]["name"]]
    kwargs = dict(base["model"].get("kwargs", {}))
    x = torch.randn(2, *shape)
    for name in spec["architectures"]:
        torch.manual_seed(0)
        model = mt.create_model(
            name, backbone=base["model"]["backbone"], tasks=tasks, in_channels=shape[0], **kwargs
        ).eval()
        out = model(x)
        assert set(out) == {t.name for t in tasks}
        if name in SEARCHES:
            found = model.derived_config()
            rebuilt = mt.create_model(
                found["name"], backbone=found["backbone"], tasks=tasks, **found["kwargs"]
            )
            assert set(rebuilt.eval()(x)) == set(out)


def test_the_trainer_calls_the_model_hooks(tmp_path):
    cfg = {
        "data": {
            "name": "multimnist",
            "batch_size": 16,
            "eval_batch_size": 200,
            "kwargs": {"n_train": 64, "n_val": 32, "n_test": 32, "cache": False},
        },
        "model": {"name": "routing", "backbone": "lenet", "kwargs": {"num_blocks": 2, "depth": 1}},
        "train": {
            "epochs": 1,
            "max_steps_per_epoch": 2,
            "out_dir": str(tmp_path / "r"),
            "progress": False,
            "tensorboard": False,
        },
    }
    trainer = Trainer(Config.from_dict(cfg))
    trainer.fit()
    assert any(bool(lg.detach().abs().sum() > 0) for lg in trainer.model.router)  # REINFORCE ran
    cfg["model"] = {"name": "maximum_roaming", "backbone": "lenet", "kwargs": {"sharing_ratio": 0.3}}
    cfg["train"]["out_dir"] = str(tmp_path / "m")
    trainer = Trainer(Config.from_dict(cfg))
    start = {i: v.clone() for i, v in trainer.model.visited().items()}
    trainer.fit()
    assert all(trainer.model.visited()[i].sum() > start[i].sum() for i in start)  # roamed once


TINY = [
    "--set", "train.epochs=2", "--set", "data.batch_size=16", "--set", "data.eval_batch_size=100",
    "--set", "data.kwargs={n_train: 64, n_val: 32, n_test: 32}",
]  # fmt: skip


def test_multitask_bench_runs_both_phases_of_a_search_and_reports_their_costs(tmp_path, capsys):
    from multitask.bench.records import load_records
    from multitask.bench.report import markdown_table, summarize
    from multitask.cli import main

    out = tmp_path / "grid"
    argv = [
        "bench",
        "--suite",
        "sharing",
        "--archs",
        "bmtas",
        "--seeds",
        "0",
        "--jobs",
        "1",
        "--out",
        str(out),
    ]
    assert main(argv + TINY) == 0
    run = out / "runs" / "bmtas" / "ew" / "seed0"
    for phase in ("search", "final"):
        assert (run / phase / "result.json").is_file()
    result = json.loads((run / "result.json").read_text())
    assert result["model"] == "bmtas" and result["found_model"]["name"] == "branched"
    search, final = result["phases"]["search"], result["phases"]["final"]
    assert search["params"] > final["params"] == result["params"]  # T copies of every block vs a tree
    assert search["macs"] >= final["macs"] == result["macs"] > 0
    assert search["wall_time_s"] == result["search_wall_time_s"] > 0 and final["wall_time_s"] > 0
    found = Config.from_yaml(run / "found_config.yaml")  # the found network, a config to train again
    assert found.to_dict()["model"] == result["found_model"]
    assert yaml.safe_load((run / "found_model.yaml").read_text())["model"] == result["found_model"]
    printed = capsys.readouterr().out
    assert "search s" in printed and "train s" in printed and "MACs" in printed
    rows = {row["model"]: row for row in summarize(load_records(out)[0])}
    assert rows["bmtas"]["search_s"][0] == pytest.approx(search["wall_time_s"])
    assert rows["bmtas"]["train_s"][0] == pytest.approx(final["wall_time_s"])
    assert rows["single_task"]["search_s"] is None
    line = next(ln for ln in markdown_table(list(rows.values())).splitlines() if ln.startswith("| bmtas"))
    assert f"{search['wall_time_s']:.1f}" in line and f"{final['macs']:,}" in line
    again = main(argv + TINY)  # finished: both phases are read back, nothing is trained
    assert again == 0 and json.loads((run / "result.json").read_text()) == result


def test_the_old_command_is_an_alias_of_the_grid(tmp_path, monkeypatch):
    from multitask.bench import sharing_suite

    calls = {}
    monkeypatch.setattr(
        "multitask.bench.runner.run_grid", lambda grid, out, **kw: calls.update(grid=grid) or []
    )
    monkeypatch.setattr("multitask.bench.html_report.build_report", lambda *a, **k: {"markdown": ""})
    assert sharing_suite.main(["--suite", "sharing-dense", "--seeds", "4", "--out", str(tmp_path)]) == 0
    assert calls["grid"].architectures == sharing_suites()["sharing-dense"]["architectures"]
    assert calls["grid"].seeds == [4] and calls["grid"].methods == ["ew"]
