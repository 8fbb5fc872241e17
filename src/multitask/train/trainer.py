"""The trainer: dataset x architecture x method x optimizer from one :class:`Config`.

Per epoch it trains with ``multitask.backward``, evaluates the validation split with the task metrics,
and keeps the epoch with the best validation Δm (Maninis/Vandenhende convention, against the
single-task validation results in ``train.baseline`` when given, else against the first epoch's
validation results). The test split is evaluated once, with the selected epoch's weights.

Hooks, declared on the base classes: ``method.on_train_begin(epochs, steps_per_epoch)`` once before
training (also on resume, with the full budget); ``model.regularization()`` (DSelect-k's gate entropy;
``None`` for most models) is back-propagated as is each step, outside the balancing; each prediction in
``model.aux_outputs[task]`` (PAD-Net, MTI-Net deep supervision) adds ``train.aux_weight`` times its task
loss to the task's loss before balancing; ``method.on_epoch_end(val_metrics, higher_is_better)`` runs
after each epoch's validation. A gradient method with ``wraps_features`` (RotoGrad) gets the shared
representation in features mode and gives each task head its own view, ``method.wrap_features(z)[k]``,
in training and evaluation (the model's ``decode`` runs once per task view).

Partial labels: a task without a labelled sample in a batch (:func:`multitask.core.tasks.label_count`
is 0) is absent from that step (``None`` loss in ``multitask.backward``); a batch without any label is
skipped; ``data.label_fraction`` drops training labels reproducibly.

Construction: :mod:`multitask.train.build`; one step: :mod:`multitask.train.step` (forward passes:
:mod:`multitask.train.forward`); the end of an epoch and of the run: :mod:`multitask.train.epoch`;
the run directory's rules (lock, no overwrite, resume only the same config): :mod:`multitask.train.rundir`.
Outputs in ``train.out_dir``: ``config.yaml``,
``checkpoint.pt`` (latest state and config), ``best.pt`` (weights of the selected epoch), ``steps.csv``,
``epochs.csv``, ``result.json``, ``tensorboard/``. On CPU a resumed run ends bitwise identical to an
uninterrupted one. Per step the loop does one host synchronisation (the non-finite check).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from multitask._backward import StepInfo
from multitask.distributed import merge_metrics
from multitask.metrics import MultiTaskMetrics
from multitask.train import epoch as _epoch
from multitask.train import forward as _forward
from multitask.train import search as _search
from multitask.train import step as _step
from multitask.train.build import Run, build, build_method
from multitask.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from multitask.train.config import Config
from multitask.train.loader import MultiInputSplit, epoch_order, epoch_seed
from multitask.train.logging import RunLogger
from multitask.train.rundir import RunLock, prepare_run_dir
from multitask.train.scale import NullLogger, Scale
from multitask.train.step import NonFiniteLossError

__all__ = ["NonFiniteLossError", "Trainer", "build_method"]  # build_method: re-exported for old imports


class Trainer:
    """Train one configuration. ``fit()`` returns the result dict also written to ``result.json``.

    The run is built (and the config validated) in the constructor, before the run directory is touched.
    """

    def __init__(self, config: Config, run: Run | None = None) -> None:
        self.config = config
        self.out_dir = Path(config.train.out_dir)
        r = run if run is not None else build(config)
        self.device, self.tasks, self.mode = r.device, r.tasks, r.mode
        self.model, self.method = r.model, r.method
        self.optimizer, self.scheduler, self.reference = r.optimizer, r.scheduler, r.reference
        self.train_set, self.val_set, self.test_set = (r.datasets[s] for s in ("train", "val", "test"))
        self.splits = r.splits
        self.task_names = [t.name for t in self.tasks]
        self.higher_is_better = MultiTaskMetrics(self.tasks).higher_is_better
        self.logger: RunLogger | NullLogger | None = None
        _search.setup(self)  # a search's architecture steps on held-out batches (multitask.train.search)
        # processes / precision / accumulation (multitask.train.scale); joins torchrun's group if any
        self.scale = Scale(config, self.method, self.shared_parameters(), self.mode, self.device)
        self.epoch = self.step_in_epoch = self.global_step = self.skipped_steps = 0
        self.best: dict[str, Any] = {"epoch": -1, "delta_m": -math.inf}
        self.step_times: list[float] = []
        self.last_checkpoint: dict[str, int] | None = None  # position of the newest checkpoint.pt

    # ---- one step (multitask.train.step; forward passes in multitask.train.forward) -------------
    def shared_parameters(self) -> list[torch.nn.Parameter]:
        """The model's shared parameters that the weight steps train (a search's frozen architecture
        parameters left out)."""
        frozen = {id(p) for p in self.arch_params}
        return [p for p in self.model.shared_parameters() if id(p) not in frozen]

    def _losses(self, x: Any, targets: dict[str, Tensor]) -> tuple[dict[str, Tensor], Any]:
        return _forward.task_losses(self, x, targets)

    def _predict(self, x: Any) -> dict[str, Tensor]:
        return _forward.predict(self, x)

    def train_step(self, x: Any, targets: dict[str, Tensor]) -> StepInfo | None:
        """One optimizer step on a batch; ``None`` when it was skipped (:mod:`multitask.train.step`)."""
        return _step.train_step(self, x, targets)

    def _checkpoint_note(self) -> str:
        if self.last_checkpoint is None:
            return f"no checkpoint was written yet; the logs so far are in {self.out_dir}"
        where = self.last_checkpoint
        return (
            f"the last checkpoint is {self.out_dir / 'checkpoint.pt'} (epoch {where['epoch']}, step "
            f"{where['global_step']}); the logs so far are in {self.out_dir}"
        )

    # ---- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, dict[str, float]]:
        """Metrics of the model on ``"train"``, ``"val"`` or ``"test"``."""
        self.model.eval()
        metrics = MultiTaskMetrics(self.tasks)
        for i, (x, targets) in enumerate(self.splits[split].eval_batches(self.config.data.eval_batch_size)):
            if self.scale.eval_mine(i):  # several processes: a share of the batches each, merged below
                metrics.update(self._predict(x), targets)
        return merge_metrics(metrics).compute()

    # ---- checkpoints ----------------------------------------------------------------------------
    def save(self) -> None:
        assert self.logger is not None
        self.logger.flush()
        position = {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step}
        if self.scale.rank != 0:  # only rank 0 writes; every rank holds the same state
            self.last_checkpoint = position
            return
        state = {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "method": self.method.state_dict(), "rng": rng_state(), **position,
            "skipped_steps": self.skipped_steps, "best": self.best, "reference": self.reference,
            "log": self.logger.state(), "step_times": list(self.step_times), "config": self.config.to_dict(),
            "scaler": self.scale.state(),
            "arch_optimizer": self.arch_optimizer.state_dict() if self.arch_optimizer is not None else None,
        }  # fmt: skip
        save_checkpoint(self.out_dir / "checkpoint.pt", state)
        self.last_checkpoint = position

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.method.load_state_dict(state["method"])
        self.epoch, self.step_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        self.global_step, self.skipped_steps = int(state["global_step"]), int(state["skipped_steps"])
        self.best, self.reference = dict(state["best"]), state["reference"]
        assert self.logger is not None
        self.logger.load_state(state["log"])
        self.step_times = list(state["step_times"])
        self.last_checkpoint = {k: int(state[k]) for k in ("epoch", "step_in_epoch", "global_step")}
        self.scale.load_state(state.get("scaler"))
        if self.arch_optimizer is not None and state.get("arch_optimizer") is not None:
            self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        set_rng_state(state["rng"])

    # ---- the loop -------------------------------------------------------------------------------
    def fit(self, resume: bool = False, force: bool = False) -> dict[str, Any]:
        """Train (``resume``: continue the run in ``train.out_dir``; ``force``: replace the run there).

        A directory holding a run is refused without one of them; a resume with a config that differs
        in a field that changes the run is refused, naming the fields. Only one process uses a directory
        (under torchrun: rank 0 writes it, the other ranks read the checkpoint to resume).
        """
        if self.scale.reduce is not None:
            return self._fit_ranks(resume, force)
        with RunLock(self.out_dir):
            state = prepare_run_dir(self.out_dir, self.config.to_dict(), resume, force, self.device)
            self.config.to_yaml(self.out_dir / "config.yaml")
            return self._fit_logged(state)

    def _fit_ranks(self, resume: bool, force: bool) -> dict[str, Any]:
        """:meth:`fit` under several processes: rank 0 prepares the directory and tells the others."""
        import torch.distributed as dist

        if self.scale.rank != 0:
            message: list[Any] = [None]
            dist.broadcast_object_list(message, src=0)
            error, resumed = message[0]
            if error is not None:
                raise ValueError(f"rank 0 could not prepare {self.out_dir}: {error}")
            self.logger = NullLogger()
            if resumed:
                self.restore(load_checkpoint(self.out_dir / "checkpoint.pt", map_location=self.device))
            return self._fit()
        with RunLock(self.out_dir):
            try:
                state = prepare_run_dir(self.out_dir, self.config.to_dict(), resume, force, self.device)
                self.config.to_yaml(self.out_dir / "config.yaml")
            except Exception as err:
                dist.broadcast_object_list([(str(err), False)], src=0)
                raise
            dist.broadcast_object_list([(None, state is not None)], src=0)
            return self._fit_logged(state)

    def _fit_logged(self, state: dict[str, Any] | None) -> dict[str, Any]:
        """The writing process's run: its logger, the checkpoint ``state`` restored when resuming, the
        logs flushed whatever happens."""
        self.logger = RunLogger(self.out_dir, tensorboard=self.config.train.tensorboard)
        if state is not None:
            self.restore(state)
        try:
            return self._fit()
        finally:
            self.logger.flush()
            self.logger.close()

    def _fit(self) -> dict[str, Any]:
        c = self.config
        kinds = _search.plan(self, self.epoch)[1]
        self.method.on_train_begin(c.train.epochs, kinds.count(False))  # the weight steps of an epoch
        t_start = time.perf_counter()
        # deterministic kernels for this run only; the caller's setting is restored afterwards
        previous = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
        )
        if c.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            while self.epoch < c.train.epochs:
                self._train_epoch()
                _epoch.end_epoch(self)
            return _epoch.finish(self, time.perf_counter() - t_start)
        finally:
            torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])

    def _order(self, epoch: int) -> list[Any]:
        t = self.config.train
        train = self.splits["train"]
        if isinstance(train, MultiInputSplit):  # one batch of every domain per step
            return train.orders(self.config.data.batch_size, t.seed, epoch, t.max_steps_per_epoch)
        return epoch_order(
            len(self.splits["train"]), self.config.data.batch_size, t.seed, epoch, t.max_steps_per_epoch
        )

    def _train_epoch(self) -> None:
        from tqdm.auto import tqdm

        c, logger = self.config, self.logger
        assert logger is not None
        order, kinds = _search.plan(self, self.epoch)  # a search: weight batches, then architecture batches
        order, kinds = order[self.step_in_epoch :], kinds[self.step_in_epoch :]
        bar = tqdm(
            total=len(order),
            desc=f"epoch {self.epoch + 1}/{c.train.epochs}",
            disable=not c.train.progress or self.scale.rank != 0,
            leave=True,
            dynamic_ncols=True,
        )
        self.model.train()
        shown = time.monotonic()
        batches = self.splits["train"].batches(order, epoch_seed(self.config.train.seed, self.epoch))
        for (x, targets), arch in zip(batches, kinds):
            info = _search.arch_step(self, x, targets) if arch else self.train_step(x, targets)
            if info is not None:
                step = {"epoch": self.epoch, "step": self.global_step, "info": info}
                logger.log_step({**step, "step_time": self.step_times[-1]})
            self.step_in_epoch += 1
            self.global_step += 1
            bar.update()
            if info is not None and c.train.progress and time.monotonic() - shown > 0.5:
                shown = time.monotonic()
                bar.set_postfix(
                    {f"loss/{t}": f"{float(v):.3f}" for t, v in zip(info.task_names, info.losses)}
                )
            if c.train.checkpoint_every and self.step_in_epoch % c.train.checkpoint_every == 0:
                self.save()
        bar.close()
