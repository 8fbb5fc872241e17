"""The trainer's alternating architecture search (multitask.train.search)."""

import json

import pytest
import torch

from multitask.train.config import Config
from multitask.train.loader import held_out
from multitask.train.trainer import Trainer


def search_config(tmp_path, model="bmtas", **search):
    return Config.from_dict(
        {
            "data": {
                "name": "multimnist",
                "batch_size": 16,
                "eval_batch_size": 100,
                "kwargs": {"n_train": 80, "n_val": 32, "n_test": 32},
            },
            "model": {"name": model, "backbone": "lenet"},
            "train": {"epochs": 2, "out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
            "search": search,
        }
    )


def record_training_forwards(trainer):
    """Per training forward: (the training-split indices of the batch, whether the architecture
    parameters could receive a gradient from it)."""
    images = trainer.splits["train"].x.flatten(1)
    seen = []
    forward = trainer.model.forward
    arch = list(trainer.model.architecture_parameters())

    def spy(x):
        if trainer.model.training:
            match = (x.flatten(1)[:, None, :] == images[None]).all(-1)  # [B, N]
            assert (match.sum(1) == 1).all()  # every sample found once in the training split
            live = torch.is_grad_enabled() and any(p.requires_grad for p in arch)
            seen.append((set(match.float().argmax(1).tolist()), live))
        return forward(x)

    trainer.model.forward = spy
    return seen


@pytest.mark.parametrize("model", ["bmtas", "learning_to_branch"])
def test_architecture_parameters_learn_only_from_the_held_out_batches(tmp_path, model):
    trainer = Trainer(search_config(tmp_path, model, arch_fraction=0.25))
    weight_part, arch_part = (set(p.tolist()) for p in trainer.search_parts)
    assert not weight_part & arch_part and len(arch_part) == 20 and len(weight_part) == 60
    main = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert trainer.arch_params and not main & {id(p) for p in trainer.arch_params}
    weights = [p for p in trainer.model.parameters() if id(p) in main]
    step = trainer.arch_optimizer.step

    def checked_step(*args, **kwargs):  # an architecture update: no weight has a gradient then
        assert all(p.grad is None for p in weights)
        assert all(p.grad is not None for p in trainer.arch_params)
        return step(*args, **kwargs)

    trainer.arch_optimizer.step = checked_step
    before = [p.detach().clone() for p in trainer.arch_params]
    seen = record_training_forwards(trainer)
    trainer.fit()
    arch_batches = [idx for idx, live in seen if live]
    weight_batches = [idx for idx, live in seen if not live]
    assert len(arch_batches) == 2 * 2 and len(weight_batches) == 2 * 4  # 20 / 16, 60 / 16 per epoch
    assert all(idx <= arch_part for idx in arch_batches)
    assert all(idx <= weight_part for idx in weight_batches)
    assert set().union(*arch_batches) == arch_part  # each epoch passes the held-out part once
    assert any(not torch.equal(a, b) for a, b in zip(trainer.arch_params, before))
    assert all(not p.requires_grad for p in trainer.arch_params)  # frozen outside their steps
    assert trainer.arch_optimizer.state_dict()["state"]


def test_joint_training_when_not_alternating(tmp_path):
    trainer = Trainer(search_config(tmp_path, alternate=False))
    assert trainer.search_parts is None and trainer.arch_optimizer is None
    main = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert {id(p) for p in trainer.model.architecture_parameters()} <= main
    seen = record_training_forwards(trainer)
    trainer.fit()
    assert len(seen) == 2 * 5 and all(live for _, live in seen)


def test_resume_restores_the_architecture_optimizer(tmp_path):
    cfg = search_config(tmp_path, arch_fraction=0.25)
    first = Trainer(cfg)
    first.fit()
    again = Trainer(cfg)
    again.config.train.epochs = 3
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["arch_optimizer"]["state"]
    again.fit(resume=True)
    assert again.arch_optimizer.state_dict()["state"][0]["step"] == 6  # 2 held-out batches x 3 epochs


def test_warm_up_gives_every_batch_to_the_weights(tmp_path):
    cfg = search_config(tmp_path, arch_fraction=0.25)
    cfg.model.kwargs = {"warmup_epochs": 1}
    trainer = Trainer(cfg)
    seen = record_training_forwards(trainer)
    trainer.fit()
    assert [live for _, live in seen] == [False] * 5 + [False] * 4 + [True] * 2


def test_bad_fraction_is_refused(tmp_path):
    with pytest.raises(ValueError, match="search.arch_fraction"):
        search_config(tmp_path, arch_fraction=1.5)
    with pytest.raises(ValueError, match="search.arch_fraction.*need at least one"):
        held_out(10, 0.01, 0)


def test_routes_that_change_every_step_train(tmp_path):
    """A routing network's shared blocks are those of the step's own routes (taken after its forward)."""
    cfg = search_config(tmp_path, "routing")
    cfg.data.batch_size = 4
    cfg.model.kwargs = {"num_blocks": 2, "depth": 1}
    cfg.train.epochs = 1
    assert Trainer(cfg).fit()["epochs"] == 1


def test_multitask_train_on_a_search_config_runs_both_phases(tmp_path, capsys):
    """``multitask train`` on a searching model: the search, the found network trained from scratch, the
    found config written; a second call is refused without --resume, and --resume trains nothing new."""
    import yaml

    from multitask.cli import main

    cfg = search_config(tmp_path).to_dict()
    cfg["train"]["epochs"] = 1
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--no-plots"]) == 0
    out = json.loads(capsys.readouterr().out.split("\noutputs in")[0])
    run = tmp_path / "run"
    assert out["found_model"]["name"] == "branched" and out["search_wall_time_s"] > 0
    assert (run / "search" / "result.json").is_file() and (run / "final" / "result.json").is_file()
    found = yaml.safe_load((run / "found_config.yaml").read_text())
    assert found["model"] == out["found_model"]
    result = json.loads((run / "result.json").read_text())
    assert result["phases"]["final"]["model"] == "branched" and result["test"] == out["test"]
    stamp = (run / "final" / "result.json").stat().st_mtime_ns
    assert main(["train", str(path), "--no-plots"]) == 2
    assert "already holds a search run" in capsys.readouterr().err
    assert main(["train", str(path), "--no-plots", "--resume"]) == 0
    assert (run / "final" / "result.json").stat().st_mtime_ns == stamp  # finished phases are not retrained
