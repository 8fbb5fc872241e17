"""Partial labels in the trainer: a task without a label in a batch leaves the step (and its head alone)."""

from __future__ import annotations

import pytest
import torch

from multitask.train import Trainer


@pytest.mark.parametrize(
    ("method", "mode"),
    [("ew", "parameters"), ("upgrad", "features"), ("dwa", "parameters"), ("famo", "parameters")],
)
def test_batch_without_labels_of_a_task_trains_and_leaves_its_head_unchanged(tiny_config, method, mode):
    cfg = tiny_config(epochs=1)
    cfg.method.name, cfg.method.mode = method, mode
    trainer = Trainer(cfg)
    x, targets = next(trainer.splits["train"].eval_batches(32))
    targets = {**targets, "right": torch.full_like(targets["right"], -1)}  # no "right" label in this batch
    right_params, left_params = (list(trainer.model.task_parameters(t)) for t in ("right", "left"))
    right, left = [p.detach().clone() for p in right_params], [p.detach().clone() for p in left_params]
    assert right and left
    trainer.model.train()
    info = trainer.train_step(x, targets)  # before: a false "non-finite loss" error (NaN mean of nothing)
    assert info is not None and info.absent == ["right"] and info.task_names == ["left"]
    assert all(torch.equal(p, v) for p, v in zip(right_params, right))
    assert any(not torch.equal(p, v) for p, v in zip(left_params, left))
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())


def test_a_batch_with_no_label_at_all_is_skipped(tiny_config):
    trainer = Trainer(tiny_config(epochs=1))
    x, targets = next(trainer.splits["train"].eval_batches(32))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    assert trainer.train_step(x, {t: torch.full_like(y, -1) for t, y in targets.items()}) is None
    assert all(torch.equal(v, before[k]) for k, v in trainer.model.state_dict().items())


def test_label_fraction_in_the_config_drops_training_labels_only(tiny_config, tmp_path):
    cfg = tiny_config(epochs=1)
    cfg.data.label_fraction = {"right": 0.0}  # no "right" label at all in training
    trainer = Trainer(cfg)
    start = [p.detach().clone() for p in trainer.model.task_parameters("right")]
    result = trainer.fit()
    assert all(torch.equal(p, s) for p, s in zip(trainer.model.task_parameters("right"), start))
    assert result["test"]["right"]["accuracy"] >= 0  # validation and test keep their labels
    header = (tmp_path / "run" / "steps.csv").read_text().splitlines()[0]
    assert "loss/left" in header and "loss/right" not in header


def test_label_fraction_config_round_trip_and_error(tiny_config):
    cfg = tiny_config(epochs=1)
    cfg.data.label_fraction = 0.5
    assert type(cfg).from_dict(cfg.to_dict()).data.label_fraction == 0.5
    cfg.data.label_fraction = {"middle": 0.5}
    with pytest.raises(ValueError, match=r"unknown task.*middle"):
        Trainer(cfg)
