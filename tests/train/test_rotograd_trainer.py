"""RotoGrad through the trainer's declared hook (``wraps_features``): features mode, rotated heads."""

from __future__ import annotations

import pytest
import torch

from multitask.methods.gradient.rotograd import RotoGrad
from multitask.train import Trainer


def test_rotograd_trains_in_features_mode_and_its_rotations_move(tiny_config):
    cfg = tiny_config(epochs=1)
    cfg.method.name = "rotograd"  # mode stays "parameters": a features-only method falls back to features
    trainer = Trainer(cfg)
    assert trainer.mode == "features" and isinstance(trainer.method, RotoGrad)
    z = trainer.model.encode(next(trainer.splits["train"].eval_batches(4))[0])
    assert trainer.method.dim == z.shape[-1]
    start = trainer.method.skew.detach().clone()
    result = trainer.fit()
    assert not torch.equal(trainer.method.skew.detach(), start)  # the rotations are trained
    assert set(result["test"]) == {"left", "right"}


def test_evaluation_uses_the_rotated_views(tiny_config):
    trainer = Trainer(tiny_config(epochs=1))
    cfg = tiny_config(epochs=1)
    cfg.method.name = "rotograd"
    rot = Trainer(cfg)
    rot.model.load_state_dict(trainer.model.state_dict())
    with torch.no_grad():
        rot.method.skew.normal_()  # non-identity rotations
    x, _ = next(rot.splits["val"].eval_batches(8))
    rot.model.eval()
    preds = rot._predict(x)
    views = rot.method.rotate(rot.model.encode(x))
    for k, task in enumerate(["left", "right"]):
        torch.testing.assert_close(preds[task], rot.model.decode(views[k])[task])
    assert not torch.allclose(preds["left"], rot.model(x)["left"])


def test_rotograd_on_a_feature_map_is_a_clear_error(tmp_path):
    from multitask.train.config import Config

    cfg = Config.from_dict({
        "data": {"name": "shapes", "batch_size": 4, "eval_batch_size": 8, "kwargs": {"size": 32},
                 "split_kwargs": {"train": {"n": 8}, "val": {"n": 4}, "test": {"n": 4}}},
        "model": {"name": "hps", "backbone": "unet", "kwargs": {"backbone_kwargs": {"width": 8}}},
        "method": {"name": "rotograd"},
        "train": {"epochs": 1, "out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })  # fmt: skip
    with pytest.raises(ValueError, match=r"'rotograd'.*vector representation.*'unet'"):
        Trainer(cfg)
