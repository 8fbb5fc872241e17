"""Run logs: CSV always (written atomically from the in-memory history), TensorBoard when installed."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

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


class RunLogger:
    """Keeps step and epoch records; flushes them to ``steps.csv`` / ``epochs.csv`` and TensorBoard."""

    def __init__(self, out_dir: Path, tensorboard: bool = True) -> None:
        self.out_dir = out_dir
        self.steps: list[dict[str, Any]] = []
        self.epochs: list[dict[str, Any]] = []
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is an optional extra
                self._tb = None
            else:
                self._tb = SummaryWriter(log_dir=str(out_dir / "tensorboard"))

    def log_step(self, record: dict[str, Any]) -> None:
        self.steps.append(record)
        if self._tb is not None:
            step = int(record["step"])
            for key, value in record.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"train/{key}", value, step)

    def log_epoch(self, record: dict[str, Any]) -> None:
        self.epochs.append(record)
        if self._tb is not None:
            epoch = int(record["epoch"])
            for key, value in record.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"epoch/{key}", value, epoch)

    def flush(self) -> None:
        write_csv(self.out_dir / "steps.csv", self.steps)
        write_csv(self.out_dir / "epochs.csv", self.epochs)
        if self._tb is not None:
            self._tb.flush()

    def state(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "epochs": list(self.epochs)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.steps = list(state["steps"])
        self.epochs = list(state["epochs"])

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
