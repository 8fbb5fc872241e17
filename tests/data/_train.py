"""One epoch of a tiny hard-sharing U-Net on a dense dataset's on-disk fixture, as the loaders' end-to-end
tests run it (NYUD, PASCAL-Context, SYNTHIA, Taskonomy)."""

from __future__ import annotations

from pathlib import Path

from multitask.train.config import Config
from multitask.train.trainer import Trainer


def fit_tiny_unet(
    name: str, root: Path, out_dir: Path, *, batch_size: int, eval_batch_size: int,
    kwargs: dict | None = None, baseline: Path | None = None,
) -> dict:
    """``Trainer(cfg).fit()`` for dataset ``name`` at ``root``: EW, one epoch, width-4 depth-2 U-Net,
    written to ``out_dir``; ``baseline``: a single-task baseline file for Δm."""
    data = {"name": name, "root": str(root), "batch_size": batch_size, "eval_batch_size": eval_batch_size}
    if kwargs is not None:
        data["kwargs"] = kwargs
    train = {"epochs": 1, "out_dir": str(out_dir), "progress": False, "tensorboard": False}
    if baseline is not None:
        train["baseline"] = str(baseline)
    return Trainer(Config.from_dict({
        "data": data,
        "model": {"name": "hps", "backbone": "unet", "kwargs": {"backbone_kwargs": {"width": 4, "depth": 2}}},
        "method": {"name": "ew"},
        "train": train,
    })).fit()
