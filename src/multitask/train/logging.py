"""Run logs: CSV always (written atomically from the in-memory history), TensorBoard when installed."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch

from multitask.train.config import atomic_write_text


def write_csv(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts; the union of their keys in first-seen order) as CSV, atomically."""
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON atomically (non-finite floats become ``null``)."""
    atomic_write_text(path, json.dumps(_finite(data), indent=2, sort_keys=False) + "\n")


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _info_columns(names: list[str], layout: tuple[bool, ...], flat: list[float]) -> dict[str, float]:
    """The columns of ``StepInfo.as_dict`` from the flattened [losses, weights, grad norms, cosines]."""
    t = len(names)
    blocks, pos = [], 0
    for present, size in zip(layout, (t, t, t, t * t)):
        blocks.append(flat[pos : pos + size] if present else None)
        pos += size if present else 0
    losses, weights, norms, cos = blocks
    out: dict[str, float] = {}
    for i, name in enumerate(names):
        out[f"loss/{name}"] = losses[i]
        if weights is not None:
            out[f"weight/{name}"] = weights[i]
        if norms is not None:
            out[f"grad_norm/{name}"] = norms[i]
    if cos is not None:
        for i, a in enumerate(names):
            for j in range(i + 1, t):
                out[f"cos/{a}/{names[j]}"] = cos[i * t + j]
    return out


def epoch_summary(
    epoch: int,
    epochs: int,
    val: dict[str, dict[str, float]],
    dm: float,
    best: dict[str, Any],
    higher_is_better: dict[str, dict[str, bool]] | None = None,
) -> str:
    """One line per epoch: each task's main validation metric (the one the Δm counts, given
    ``higher_is_better``; else the task's first metric), Δm and the epoch selected so far."""
    from multitask.metrics import delta_metrics

    mains = {t: next(iter(m)) for t, m in val.items()}
    if higher_is_better is not None:
        mains.update({t: ms[0] for t, ms in delta_metrics(higher_is_better, "vandenhende").items()})
    main = "  ".join(f"{t}/{mains[t]} {m[mains[t]]:.4f}" for t, m in val.items())
    return (
        f"epoch {epoch + 1}/{epochs}  val {main}  Δm {dm:+.2f}%  "
        f"selected so far: epoch {best['epoch'] + 1} (Δm {best['delta_m']:+.2f}%)"
    )


_TB_NOTICE_SHOWN = False


def tensorboard_writer(log_dir: Path) -> Any:
    """A ``SummaryWriter`` for ``log_dir``, or ``None`` (saying once per process that it is off) when the
    ``tensorboard`` package is missing."""
    global _TB_NOTICE_SHOWN
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _TB_NOTICE_SHOWN:
            _TB_NOTICE_SHOWN = True
            print(
                "note: TensorBoard logging is off because the 'tensorboard' package is not installed "
                "(pip install tensorboard to enable it; set train.tensorboard: false to silence this)",
                file=sys.stderr,
            )
        return None
    return SummaryWriter(log_dir=str(log_dir))


class RunLogger:
    """Keeps step and epoch records; flushes them to ``steps.csv`` / ``epochs.csv`` and TensorBoard.

    Records are written at :meth:`flush` (epoch ends and checkpoints), not per step, so logging adds no
    per-step file or TensorBoard work to the training loop.
    """

    def __init__(self, out_dir: Path, tensorboard: bool = True) -> None:
        self.out_dir = out_dir
        self.steps: list[dict[str, Any]] = []
        self._expanded = 0  # steps before this index are plain rows already
        self.epochs: list[dict[str, Any]] = []
        self._tb = tensorboard_writer(out_dir / "tensorboard") if tensorboard else None
        self._tb_done = (0, 0)  # step and epoch records already sent to TensorBoard

    def log_step(self, record: dict[str, Any]) -> None:
        """Keep a step record; a ``StepInfo`` under ``"info"`` is copied now (one small tensor, no host
        synchronisation) and expanded into ``loss/<task>``, ``weight/<task>``, ... columns at flush."""
        info = record.get("info")
        if info is not None:
            parts = [info.losses, info.weights, info.grad_norms, info.cosines]
            layout = tuple(p is not None for p in parts)
            values = torch.cat([p.detach().reshape(-1).to(info.losses.dtype) for p in parts if p is not None])
            record = {**record, "info": (info.task_names, layout, values, dict(info.extra))}
        self.steps.append(record)

    def _expand(self) -> None:
        for i in range(self._expanded, len(self.steps)):
            record = self.steps[i]
            if "info" in record:
                names, layout, values, extra = record["info"]
                row = {k: v for k, v in record.items() if k not in ("info", "step_time")}
                row.update(_info_columns(names, layout, values.tolist()))
                row.update(extra)
                if "step_time" in record:
                    row["step_time"] = record["step_time"]
                self.steps[i] = row
        self._expanded = len(self.steps)

    def log_epoch(self, record: dict[str, Any]) -> None:
        self.epochs.append(record)

    def flush(self) -> None:
        self._expand()
        write_csv(self.out_dir / "steps.csv", self.steps)
        write_csv(self.out_dir / "epochs.csv", self.epochs)
        if self._tb is not None:
            for record in self.steps[self._tb_done[0] :]:
                self._scalars("train", record, int(record["step"]), ("step", "epoch"))
            for record in self.epochs[self._tb_done[1] :]:
                self._scalars("epoch", record, int(record["epoch"]), ("epoch",))
            self._tb_done = (len(self.steps), len(self.epochs))
            self._tb.flush()

    def _scalars(self, group: str, record: dict[str, Any], step: int, skip: tuple[str, ...]) -> None:
        for key, value in record.items():
            if key not in skip and isinstance(value, (int, float)):
                self._tb.add_scalar(f"{group}/{key}", value, step)

    def state(self) -> dict[str, Any]:
        self._expand()
        return {"steps": list(self.steps), "epochs": list(self.epochs)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.steps = list(state["steps"])
        self._expanded = 0
        self.epochs = list(state["epochs"])
        self._tb_done = (len(self.steps), len(self.epochs))

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
