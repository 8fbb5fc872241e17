"""A grouping with a helper task trained end to end: one network per selected group, each on its tasks.

The papers (Standley et al. 2020, Fifty et al. 2021) train one network per selected group, a task
possibly trained in several (a helper) and served by one. ``network_configs`` writes those runs with
``data.tasks``; the trainer runs them as they are; ``served_results`` reads each task from its server.
"""

import numpy as np
import pytest
import torch

from multitask.affinity import (
    TaskAffinity,
    network_configs,
    select_groups,
    served_results,
    to_branched_config,
)
from multitask.metrics.delta import delta_m
from multitask.train import Trainer
from multitask.train.config import Config

NAMES = ("torque_1", "torque_2", "torque_3")


def base(tmp_path):
    return {
        "data": {"name": "sarcos", "batch_size": 64, "eval_batch_size": 500},
        "model": {"name": "hps", "backbone": "mlp", "kwargs": {"backbone_kwargs": {"hidden": [8]}}},
        "train": {"epochs": 1, "max_steps_per_epoch": 3, "device": "cpu", "out_dir": str(tmp_path / "g"),
                  "progress": False, "tensorboard": False},
    }  # fmt: skip


def helper_selection():
    """Best 2 groups: {t1, t3} serving t1 (t3 helps it) and {t2, t3} serving t2 and t3."""
    a = np.zeros((3, 3))
    a[2, 0], a[0, 2] = 1.0, -1.0
    a[1, 2] = a[2, 1] = 0.8
    a[0, 1] = a[1, 0] = -1.0
    return select_groups(TaskAffinity(NAMES, torch.as_tensor(a), 1, "given"), 2)


def test_a_two_group_selection_with_a_helper_is_trained_network_by_network(tmp_path):
    grouping = helper_selection()
    assert grouping.groups == ((0, 2), (1, 2))  # the helper torque_3 is in both groups
    networks = to_branched_config(grouping, 1, shared_stages=0)
    configs = network_configs(networks, base(tmp_path))
    assert [c["data"]["tasks"] for c in configs] == [["torque_1", "torque_3"], ["torque_2", "torque_3"]]
    assert [c["train"]["out_dir"] for c in configs] == [str(tmp_path / "g" / f"network{i}") for i in (0, 1)]
    assert all(c["model"]["name"] == "hps" for c in configs)

    results = []
    for cfg, net in zip(configs, networks.networks):
        trainer = Trainer(Config.from_dict(cfg))
        expected = [NAMES[t] for t in net.tasks]
        seen = []
        losses = trainer._losses

        def record(x, targets, losses=losses, seen=seen):
            out = losses(x, targets)
            seen.append((sorted(targets), sorted(out[0])))
            return out

        trainer._losses = record
        assert list(trainer.model.task_names) == expected
        results.append(trainer.fit())
        assert seen and all(t == lo == sorted(expected) for t, lo in seen)  # each network sees its tasks
        assert results[-1]["tasks"] == expected and list(results[-1]["test"]) == expected

    served = served_results(networks, results)
    assert list(served["test"]) == list(NAMES)
    assert served["test"]["torque_1"] == results[0]["test"]["torque_1"]  # served by {t1, t3}
    assert served["test"]["torque_3"] == results[1]["test"]["torque_3"]  # not by the group it helps
    assert served["test"]["torque_3"] != results[0]["test"]["torque_3"]
    assert served["params"] == results[0]["params"] + results[1]["params"]

    single = base(tmp_path / "single")
    single["data"]["tasks"] = list(NAMES)
    single["model"]["name"] = "single_task"
    reference = Trainer(Config.from_dict(single)).fit()
    assert list(reference["test"]) == list(NAMES)
    assert np.isfinite(delta_m(served["test"], reference["test"], served["higher_is_better"]))


def test_a_tree_becomes_one_branched_run_and_bad_inputs_are_named(tmp_path):
    part = to_branched_config(helper_selection(), 2, shared_stages=1, helpers="partition")
    (cfg,) = network_configs(part, base(tmp_path))
    assert cfg["data"]["tasks"] == list(NAMES)
    assert cfg["model"]["name"] == "branched"
    assert cfg["model"]["kwargs"]["backbone_kwargs"] == {"hidden": [8]}
    assert cfg["model"]["kwargs"]["branches"][0] == [list(NAMES)]
    Config.from_dict(cfg)  # a valid config
    with pytest.raises(ValueError, match="without task names"):
        network_configs(to_branched_config([[0, 2], [1, 2]], 1, shared_stages=0), base(tmp_path))
    other = base(tmp_path)
    other["data"]["tasks"] = ["torque_1", "torque_2"]
    with pytest.raises(ValueError, match="not the grouping's tasks"):
        network_configs(part, other)
    with pytest.raises(ValueError, match="2 networks but 1 results"):
        served_results(to_branched_config(helper_selection(), 1, shared_stages=0), [{}])


def test_a_partition_as_separate_runs(tmp_path):
    a = torch.full((3, 3), -0.5, dtype=torch.float64)
    a[0, 1] = a[1, 0] = 0.5
    part = select_groups(TaskAffinity(NAMES, a, 1, "given"), 2, overlap=False)
    assert part.groups == ((0, 1), (2,)) and not part.overlaps
    nets = to_branched_config(part, 1, shared_stages=0, separate=True)
    assert [(n.tasks, n.serves, n.helpers) for n in nets.networks] == [((0, 1), (0, 1), ()), ((2,), (2,), ())]
    assert nets.score == pytest.approx(part.score)
    configs = network_configs(nets, base(tmp_path))
    assert [c["data"]["tasks"] for c in configs] == [["torque_1", "torque_2"], ["torque_3"]]
    assert len(to_branched_config(part, 1, shared_stages=0).networks) == 1  # default: one branched model
    with pytest.raises(ValueError, match="separate=True trains each group alone"):
        to_branched_config(part, 2, shared_stages=1, separate=True)
