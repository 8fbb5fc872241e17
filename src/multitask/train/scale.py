"""The trainer's scale-out pieces: processes (torchrun), mixed precision, accumulation (issue 13).

* Processes: under ``torchrun`` (``WORLD_SIZE`` > 1) every rank builds the same run from the same seed,
  takes its contiguous share of each batch (the batch size must divide by the number of processes, as
  with ``DistributedSampler(drop_last=True)``), and ``multitask.backward`` reduces with a
  :class:`~multitask.distributed.Reducer`, so every rank applies the update of one process on the whole
  batch. Evaluation splits the batches over the ranks and merges the streaming metrics. Only rank 0 writes
  (run directory, logs, checkpoints); the other ranks log nowhere.
* Precision: ``bf16``/``fp16`` run the forward pass under ``torch.autocast`` and hand ``float32`` losses to
  the method. ``fp16`` adds a ``GradScaler``: ``multitask.backward(grad_scale=S)`` differentiates ``S·L``
  but the method sees ``L`` and the unscaled Jacobian; an overflow (in the Jacobian, before the method, or
  found by the scaler in ``.grad``) skips the step, counts it in ``skipped_steps``, lowers the scale and
  restores the method's state as it was before the step. Under several processes every rank takes the
  same decision: the Jacobian (or Gramian, with a count of non-finite entries) is reduced before the check,
  and ``.grad`` holds the averaged gradients when the scaler looks at it.
* Accumulation: :class:`~multitask.train.accumulate.Accumulator` over ``train.accumulate`` micro-batches.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from multitask.distributed import Reducer, shard
from multitask.methods.base import Method
from multitask.train.accumulate import Accumulator
from multitask.train.config import Config

__all__ = ["NullLogger", "Scale"]

Batch = tuple[Tensor, dict[str, Tensor]]


class NullLogger:
    """The logger of ranks other than 0: it writes nothing."""

    def log_step(self, record: dict[str, Any]) -> None: ...

    def log_epoch(self, record: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None: ...


class Scale:
    """Per-step helpers for processes, precision and accumulation, built once per trainer."""

    def __init__(self, config: Config, method: Method, shared: list[Tensor], mode: str, device: torch.device):
        from multitask.distributed import init_from_env

        t = config.train
        self.reduce: Reducer | None = init_from_env()
        self.rank = 0 if self.reduce is None else self.reduce.rank
        self.world = 1 if self.reduce is None else self.reduce.world_size
        self.precision, self.k, self.device = t.precision, t.accumulate, device
        if self.precision == "fp16" and self.k > 1:
            raise ValueError(
                "train.precision fp16 with train.accumulate > 1 is not supported; use bf16 or fp32"
            )
        self.scaler = torch.amp.GradScaler(device.type) if self.precision == "fp16" else None
        self.accumulator = (
            Accumulator(method, shared, self.k, features=mode == "features", reduce=self.reduce)
            if self.k > 1
            else None
        )

    # ---- data ---------------------------------------------------------------------------------
    def micro_batches(self, x: Tensor, targets: dict[str, Tensor]) -> Iterator[Batch]:
        """This rank's share of the batch, cut into the ``accumulate`` micro-batches."""
        if self.world == 1 and self.k == 1:
            yield x, targets
            return
        if not isinstance(x, Tensor):  # one dataset per task: a dict of inputs
            raise ValueError(
                "one dataset per task (multi-input data) is not supported with several processes or "
                "train.accumulate > 1 yet; train it on one process with train.accumulate: 1"
            )
        n, parts = x.shape[0], self.world * self.k
        if n % parts:
            raise ValueError(
                f"a batch of {n} samples does not split into {self.world} processes x {self.k} micro-batches "
                "(train.accumulate); choose data.batch_size (and the train set size) divisible by "
                f"{parts}, or train.max_steps_per_epoch to drop the last short batch"
            )
        rows = shard(n, self.rank, self.world)
        x, targets = x[rows], {t: y[rows] for t, y in targets.items()}
        size = x.shape[0] // self.k
        for i in range(self.k):
            sl = slice(i * size, (i + 1) * size)
            yield x[sl], {t: y[sl] for t, y in targets.items()}

    def eval_mine(self, index: int) -> bool:
        """Whether this rank evaluates the ``index``-th evaluation batch."""
        return index % self.world == self.rank

    # ---- precision ----------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def loss_scale(self) -> float | None:
        if self.scaler is None:
            return None
        self.scaler.scale(torch.zeros((), device=self.device))  # the public way to create its scale tensor
        return float(self.scaler.get_scale())

    def snapshot(self, method: Method) -> dict[str, Any] | None:
        """The method's state before an fp16 step (restored if the step overflows)."""
        return None if self.scaler is None else copy.deepcopy(method.state_dict())

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """The optimizer step (through the scaler in fp16); ``False`` when the scaler skipped it."""
        if self.scaler is None:
            optimizer.step()
            return True
        before = self.scaler.get_scale()
        self.scaler.step(optimizer)
        self.scaler.update()
        return not self.scaler.get_scale() < before

    def overflowed(self) -> None:
        """An overflow found before the method ran: lower the scale as ``GradScaler`` does."""
        assert self.scaler is not None
        self.scaler.update(self.scaler.get_scale() * self.scaler.get_backoff_factor())

    def state(self) -> dict[str, Any] | None:
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
