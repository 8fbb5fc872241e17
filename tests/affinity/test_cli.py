import argparse
import json

import pytest

from multitask.affinity import cli
from multitask.models.architectures.branched import normalize_branches

CONFIG = """
data: {name: sarcos, batch_size: 64}
model: {name: hps, backbone: mlp, kwargs: {backbone_kwargs: {hidden: [16, 16]}}}
optim: {name: adam, lr: 0.001}
train: {device: cpu}
"""


def parse(argv):
    p = argparse.ArgumentParser()
    cli.add_parser(p.add_subparsers(dest="command"))
    return p.parse_args(["affinity", *argv])


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return path


@pytest.mark.parametrize("method", ["tag", "cosine"])
def test_grouping_methods(config, tmp_path, method, capsys):
    out = tmp_path / "res.json"
    args = parse(
        [str(config), "--method", method, "--steps", "4", "--every", "2", "--k", "3", "--out", str(out)]
    )
    assert cli.run(args) == 0
    res = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == res
    tasks = [f"torque_{i}" for i in range(1, 8)]
    assert res["tasks"] == tasks and res["num_steps"] == 2
    assert sorted({t for g in res["groups"] for t in g}) == tasks and len(res["groups"]) <= 3
    assert sorted(t for n in res["networks"] for t in n["serves"]) == tasks


def test_rsa_tree_within_budget(config, tmp_path):
    out = tmp_path / "res.json"
    assert (
        cli.run(parse([str(config), "--method", "rsa", "--steps", "3", "--budget", "2", "--out", str(out)]))
        == 0
    )
    res = json.loads(out.read_text())
    assert len(res["branches"]) == 2  # two MLP blocks
    normalize_branches(res["branches"], res["tasks"], 2)  # a valid tree for the branched model
    assert res["params"] <= res["budget_params"] == pytest.approx(2 * sum(res["block_params"]))


def test_bad_arguments(config):
    with pytest.raises(ValueError, match="--steps must be >= 1"):
        cli.run(parse([str(config), "--steps", "0"]))


def test_configs_are_written_one_per_network_and_build(config, tmp_path):
    from multitask.train import Trainer
    from multitask.train.config import Config

    out, folder = tmp_path / "res.json", tmp_path / "nets"
    args = ["--steps", "2", "--k", "3", "--configs", str(folder), "--out", str(out)]
    assert cli.run(parse([str(config), *args])) == 0
    res = json.loads(out.read_text())
    assert res["configs"] == [str(folder / f"network{i}.yaml") for i in range(len(res["networks"]))]
    for path, net in zip(res["configs"], res["networks"]):
        cfg = Config.from_yaml(path)
        assert cfg.data.tasks == net["tasks"] and cfg.model.name == "hps"
        cfg.train.out_dir = str(tmp_path / "run")
        assert Trainer(cfg).task_names == net["tasks"]
    rsa = [str(config), "--method", "rsa", "--steps", "2", "--configs", str(tmp_path / "r")]
    assert cli.run(parse(rsa)) == 0
    tree = Config.from_yaml(tmp_path / "r" / "network0.yaml")
    assert tree.model.name == "branched" and tree.data.tasks == [f"torque_{i}" for i in range(1, 8)]
    assert tree.model.kwargs["backbone_kwargs"] == {"hidden": [16, 16]}


def test_rsa_on_a_subset_of_the_tasks(config, tmp_path):
    out = tmp_path / "res.json"
    subset = "data.tasks=[torque_7, torque_2, torque_4]"
    argv = [str(config), "--method", "rsa", "--steps", "2", "--set", subset]
    assert cli.run(parse([*argv, "--out", str(out)])) == 0
    res = json.loads(out.read_text())
    assert res["tasks"] == ["torque_7", "torque_2", "torque_4"]
    assert sorted(t for g in res["branches"][-1] for t in g) == sorted(res["tasks"])
