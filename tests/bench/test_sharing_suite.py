import pytest
import torch

import multitask as mt
from multitask.bench.sharing_suite import SEARCHES, _hooked_trainer, sharing_suites
from multitask.core.tasks import Task
from multitask.train.config import Config

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
    trainer = _hooked_trainer()(Config.from_dict(cfg))
    trainer.fit()
    assert any(bool(lg.detach().abs().sum() > 0) for lg in trainer.model.router)  # REINFORCE ran
    cfg["model"] = {"name": "maximum_roaming", "backbone": "lenet", "kwargs": {"sharing_ratio": 0.3}}
    cfg["train"]["out_dir"] = str(tmp_path / "m")
    trainer = _hooked_trainer()(Config.from_dict(cfg))
    start = {i: v.clone() for i, v in trainer.model.visited().items()}
    trainer.fit()
    assert all(trainer.model.visited()[i].sum() > start[i].sum() for i in start)  # roamed once
