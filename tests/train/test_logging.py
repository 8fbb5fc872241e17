import builtins

import torch

from multitask import StepInfo
from multitask.train import logging as run_logging
from multitask.train.logging import RunLogger


def test_step_records_expand_to_the_step_info_columns_at_flush(tmp_path):
    logger = RunLogger(tmp_path, tensorboard=False)
    weights = torch.tensor([0.25, 0.75])
    cos = torch.tensor([[1.0, -0.5], [-0.5, 1.0]])
    info = StepInfo(
        ["a", "b"], torch.tensor([1.0, 2.0]), weights, torch.tensor([3.0, 4.0]), cos, "parameters"
    )
    logger.log_step({"epoch": 0, "step": 0, "info": info, "step_time": 0.1})
    expected = info.as_dict()
    weights.mul_(0)  # a method that later changes its buffer in place does not change the logged row
    logger.flush()
    header, row = (tmp_path / "steps.csv").read_text().splitlines()
    assert header.split(",") == ["epoch", "step", *expected, "step_time"]
    values = dict(zip(header.split(","), row.split(",")))
    assert all(float(values[k]) == v for k, v in expected.items())


def test_missing_tensorboard_is_said_once(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    monkeypatch.setattr(run_logging, "_TB_NOTICE_SHOWN", False)
    RunLogger(tmp_path / "a", tensorboard=True)
    RunLogger(tmp_path / "b", tensorboard=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "TensorBoard logging is off" in err[0] and "pip install tensorboard" in err[0]


def test_epoch_summary_shows_the_metric_the_delta_m_counts():
    from multitask.metrics.depth import DepthMetrics
    from multitask.train.logging import epoch_summary

    depth = {"abs_err": 0.5, "rel_err": 0.2, "rmse": 0.75, "delta1": 0.6}
    val = {"depth": depth, "cls": {"acc": 0.9, "f1": 0.8}}
    hib = {"depth": dict(DepthMetrics._higher), "cls": {"acc": True, "f1": True}}
    best = {"epoch": 0, "delta_m": 1.5}
    line = epoch_summary(1, 3, val, 2.0, best, hib)
    assert line == (
        "epoch 2/3  val depth/rmse 0.7500  cls/acc 0.9000  Δm +2.00%  selected so far: epoch 1 (Δm +1.50%)"
    )  # the Vandenhende main metric of depth is its RMSE, not its first metric
    assert "depth/abs_err 0.5000" in epoch_summary(1, 3, val, 2.0, best)  # without hib: the first metric
