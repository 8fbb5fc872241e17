"""The end of a :class:`~multitask.train.trainer.Trainer`'s epoch and of its run.

Per epoch: validation, the Δm against the reference (Maninis/Vandenhende convention), the best epoch's
weights in ``best.pt``, the epoch record, the scheduler step and a checkpoint. At the end: the selected
epoch's weights, the test split, and ``result.json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from multitask.metrics import delta_m
from multitask.models.macs import count_macs
from multitask.train.checkpoint import load_checkpoint, save_checkpoint
from multitask.train.logging import epoch_summary, write_json

if TYPE_CHECKING:
    from multitask.train.trainer import Trainer

__all__ = ["end_epoch", "finish"]


def end_epoch(tr: Trainer) -> None:
    """Validate, keep the best epoch (``best.pt``), log, step the scheduler, checkpoint."""
    assert tr.logger is not None
    tr.model.on_epoch_end(tr.epoch)  # e.g. Maximum Roaming's partition update, search schedules
    val = tr.evaluate("val")
    if tr.reference is None:
        tr.reference = val
    tr.method.on_epoch_end(val, tr.higher_is_better)
    # against the run's own first epoch a metric can be exactly 0 there (a tiny validation set): it then
    # counts its absolute change, so model selection still works; a given baseline of 0 stays an error
    zero = "error" if tr.config.train.baseline else "absolute"
    dm = delta_m(val, tr.reference, tr.higher_is_better, convention="vandenhende", zero_baseline=zero)
    record: dict[str, Any] = {"epoch": tr.epoch, "val_delta_m": dm, "skipped_steps": tr.skipped_steps}
    record.update({f"val/{t}/{m}": v for t, values in val.items() for m, v in values.items()})
    record["lr"] = tr.optimizer.param_groups[0]["lr"]
    tr.logger.log_epoch(record)
    if dm > tr.best["delta_m"]:
        tr.best = {"epoch": tr.epoch, "delta_m": dm, "val": val}
        if tr.scale.rank == 0:
            save_checkpoint(tr.out_dir / "best.pt", {"model": tr.model.state_dict(), "epoch": tr.epoch})
    if tr.config.train.progress and tr.scale.rank == 0:
        line = epoch_summary(tr.epoch, tr.config.train.epochs, val, dm, tr.best, tr.higher_is_better)
        print(line, flush=True)
    if tr.scheduler is not None:
        tr.scheduler.step()
    tr.epoch += 1
    tr.step_in_epoch = 0
    tr.save()


def finish(tr: Trainer, wall: float) -> dict[str, Any]:
    """Load the selected epoch's weights, evaluate the test split, write ``result.json``."""
    if tr.scale.reduce is not None:  # rank 0 wrote best.pt (possibly in an earlier, resumed run)
        import torch.distributed as dist

        dist.barrier()
    best = load_checkpoint(tr.out_dir / "best.pt", map_location=tr.device)
    tr.model.load_state_dict(best["model"])
    c = tr.config
    result = {
        "dataset": c.data.name, "model": c.model.name, "backbone": c.model.backbone,
        "method": c.method.name, "mode": tr.mode, "seed": c.train.seed, "tasks": tr.task_names,
        "best_epoch": tr.best["epoch"], "val": tr.best["val"], "val_delta_m": tr.best["delta_m"],
        "val_delta_m_reference": "baseline" if c.train.baseline else "first epoch",
        "test": tr.evaluate("test"), "higher_is_better": tr.higher_is_better,
        "params": sum(p.numel() for p in tr.model.parameters()), "macs": _macs(tr),
        "step_time_ms": 1e3 * float(np.mean(tr.step_times)) if tr.step_times else None,
        "skipped_steps": tr.skipped_steps, "wall_time_s": wall, "epochs": c.train.epochs,
    }  # fmt: skip
    if tr.scale.rank == 0:
        write_json(tr.out_dir / "result.json", result)
    return result


def _macs(tr: Trainer) -> int | None:
    """Multiply-accumulates per sample of the selected network (``None`` for multi-input data)."""
    x, _ = next(iter(tr.splits["test"].eval_batches(1)))
    return None if isinstance(x, dict) else count_macs(tr.model, x)
