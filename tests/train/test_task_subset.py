"""``data.tasks``: a run on a subset of a dataset's tasks (heads, losses, metrics, Δm and baseline)."""

import json

import pytest

from multitask.train import Trainer
from multitask.train.config import Config


def sarcos_config(tmp_path, tasks, model="hps", **train):
    return Config.from_dict(
        {
            "data": {"name": "sarcos", "batch_size": 64, "eval_batch_size": 500, "tasks": tasks},
            "model": {"name": model, "backbone": "mlp", "kwargs": {"backbone_kwargs": {"hidden": [8]}}},
            "train": {"epochs": 1, "max_steps_per_epoch": 3, "device": "cpu",
                      "out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False, **train},
        }  # fmt: skip
    )


@pytest.mark.parametrize("model", ["hps", "single_task"])
def test_a_run_on_a_subset_trains_and_reports_only_those_tasks(tmp_path, model):
    tasks = ["torque_6", "torque_2"]
    trainer = Trainer(sarcos_config(tmp_path, tasks, model))
    seen = []
    losses = trainer._losses

    def record(x, targets):
        out = losses(x, targets)
        seen.append((list(targets), list(out[0])))
        return out

    trainer._losses = record
    assert trainer.task_names == tasks and list(trainer.model.task_names) == tasks
    result = trainer.fit()
    assert seen and all(sorted(t) == sorted(tasks) and sorted(lo) == sorted(tasks) for t, lo in seen)
    assert result["tasks"] == tasks
    for key in ("val", "test", "higher_is_better"):
        assert list(result[key]) == tasks
    full = Trainer(sarcos_config(tmp_path / "all", None, model)).model
    assert result["params"] < sum(p.numel() for p in full.parameters())  # fewer heads (or networks)


def test_an_unknown_task_fails_before_the_run_directory_exists(tmp_path):
    cfg = sarcos_config(tmp_path, ["torque_1", "torque_8"])
    with pytest.raises(ValueError) as e:
        Trainer(cfg)
    msg = str(e.value)
    assert msg.startswith("config key 'data.tasks' (dataset 'sarcos'): unknown task(s) ['torque_8']")
    assert str([f"torque_{k}" for k in range(1, 8)]) in msg
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad", [[], ["torque_1", "torque_1"], "torque_1"])
def test_the_config_refuses_an_empty_or_repeated_list(tmp_path, bad):
    with pytest.raises(ValueError, match=r"config key 'data\.tasks'"):
        sarcos_config(tmp_path, bad)


def test_the_baseline_is_restricted_to_the_subset(tmp_path):
    base = Trainer(sarcos_config(tmp_path / "single", None, "single_task")).fit()  # all seven tasks
    path = tmp_path / "single" / "run" / "result.json"
    assert json.loads(path.read_text())["val"] == base["val"]
    trainer = Trainer(sarcos_config(tmp_path, ["torque_3", "torque_1"], baseline=str(path)))
    assert list(trainer.reference) == ["torque_3", "torque_1"]
    assert trainer.reference["torque_3"] == base["val"]["torque_3"]
    result = trainer.fit()
    assert result["val_delta_m_reference"] == "baseline"
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"val": {"torque_1": base["val"]["torque_1"]}}))
    with pytest.raises(ValueError, match=r"'train\.baseline'.*no results for task\(s\) \['torque_3'\]"):
        Trainer(sarcos_config(tmp_path / "p", ["torque_3", "torque_1"], baseline=str(partial)))


def test_partial_labels_apply_to_the_subset(tmp_path):
    cfg = sarcos_config(tmp_path, ["torque_2", "torque_4"])
    cfg.data.label_fraction = {"torque_4": 0.5}
    trainer = Trainer(cfg)
    assert trainer.train_set.fractions == {"torque_2": 1.0, "torque_4": 0.5}
    cfg.data.label_fraction = {"torque_5": 0.5}
    subset_listed = r"unknown task\(s\) \['torque_5'\]; the dataset's tasks are \['torque_2', 'torque_4'\]"
    with pytest.raises(ValueError, match=subset_listed):
        Trainer(cfg)
