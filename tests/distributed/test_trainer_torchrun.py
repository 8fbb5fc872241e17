"""``multitask train CFG --nproc 2``: the trainer under torchrun with 2 CPU processes, and its resume.

One run of 1 epoch on 2 processes, resumed to 2 epochs on 2 processes, ends with the parameters of one
process trained 2 epochs without interruption (float32, Adam: ~1e-5). Only rank 0 writes: the step log
holds each step once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from multitask.train import Config, Trainer
from multitask.train.checkpoint import load_checkpoint

SRC = Path(__file__).resolve().parents[2] / "src"


def _config(out: Path, epochs: int) -> dict:
    return {
        "data": {
            "name": "multimnist", "batch_size": 32, "eval_batch_size": 50,
            "kwargs": {"n_train": 128, "n_val": 64, "n_test": 64},
        },
        "model": {"name": "hps", "backbone": "lenet", "kwargs": {"backbone_kwargs": {"dropout": 0.0}}},
        "method": {"name": "mgda"},
        "train": {"epochs": epochs, "out_dir": str(out), "progress": False, "tensorboard": False},
    }  # fmt: skip


def _launch(cfg: Path, *extra: str, env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "multitask", "train", str(cfg), "--nproc", "2", "--no-plots", *extra]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def test_two_processes_resumed_equal_one_process(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("MULTITASK_CACHE", str(cache))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    cfg_path = tmp_path / "cfg.yaml"
    Config.from_dict(_config(tmp_path / "two", epochs=1)).to_yaml(cfg_path)
    _launch(cfg_path, env=env)
    assert load_checkpoint(tmp_path / "two" / "checkpoint.pt")["epoch"] == 1
    _launch(cfg_path, "--resume", "--set", "train.epochs=2", env=env)

    one = Trainer(Config.from_dict(_config(tmp_path / "one", epochs=2)))
    start = {k: v.clone() for k, v in one.model.state_dict().items()}
    one.fit()
    a = load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    assert a["global_step"] == b["global_step"] == 8
    assert max(float((a["model"][k] - v).abs().max()) for k, v in start.items()) > 1e-3  # it trained
    for key, value in a["model"].items():
        assert torch.allclose(value, b["model"][key], rtol=1e-4, atol=2e-5), key
    steps = (tmp_path / "two" / "steps.csv").read_text().splitlines()
    assert len(steps) == 1 + 8  # each step logged once (rank 0 only)
    assert len((tmp_path / "two" / "epochs.csv").read_text().splitlines()) == 1 + 2
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )
