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
