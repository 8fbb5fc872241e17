"""The trainer: dataset x architecture x method x optimizer from one :class:`Config`.

Per epoch it trains with ``multitask.backward``, evaluates the validation split with the task metrics,
and keeps the epoch with the best validation Δm (Maninis/Vandenhende convention, against the
single-task validation results in ``train.baseline`` when given, else against the first epoch's
validation results). The test split is evaluated once, with the selected epoch's weights.

Hooks, declared on the base classes: ``model.regularization()`` (DSelect-k's gate entropy; ``None`` for
most models) is back-propagated as is each step, outside the balancing; each prediction in
``model.aux_outputs[task]`` (PAD-Net, MTI-Net deep supervision) adds ``train.aux_weight`` times its task
loss to the task's loss before balancing; ``method.on_epoch_end(val_metrics, higher_is_better)`` runs
after each epoch's validation (DWA closes its epoch there, DTP takes its KPIs from it).

Outputs in ``train.out_dir``: ``config.yaml``, ``checkpoint.pt`` (latest: model, optimizer,
scheduler, method state, RNG states, position), ``best.pt`` (model weights of the selected epoch),
``steps.csv``, ``epochs.csv``, ``result.json``, and ``tensorboard/`` when TensorBoard is installed.
On CPU a resumed run ends bitwise identical to an uninterrupted one.
"""

from __future__ import annotations

import inspect
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

import multitask as mt
from multitask.core.tasks import Task
from multitask.metrics import MultiTaskMetrics, delta_m
from multitask.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from multitask.train.config import Config
from multitask.train.logging import RunLogger, write_json


class NonFiniteLossError(ValueError):
    """A task loss became NaN or infinite."""


def resolve_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def build_method(name: str, kwargs: dict[str, Any], num_tasks: int) -> mt.methods.Method:
    cls = mt.methods.METHODS.get(name)
    kwargs = dict(kwargs)
    if "num_tasks" in inspect.signature(cls.__init__).parameters:
        kwargs.setdefault("num_tasks", num_tasks)
    return cls(**kwargs)


class Trainer:
    """Train one configuration. ``fit()`` returns the result dict also written to ``result.json``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.out_dir = Path(config.train.out_dir)
        self.device = resolve_device(config.train.device)
        c = config
        if c.train.nonfinite not in ("raise", "skip"):
            raise ValueError(
                f"config key 'train.nonfinite' must be 'raise' or 'skip', got {c.train.nonfinite!r}"
            )
        if c.method.mode not in ("parameters", "features"):
            raise ValueError(
                f"config key 'method.mode' must be 'parameters' or 'features', got {c.method.mode!r}"
            )
        _seed_everything(c.train.seed)
        unknown = sorted(set(c.data.split_kwargs) - {"train", "val", "test"})
        if unknown:
            raise ValueError(
                f"unknown config key 'data.split_kwargs.{unknown[0]}' (allowed: train, val, test)"
            )
        self.train_set, self.val_set, self.test_set = (
            mt.create_dataset(
                c.data.name,
                split=split,
                root=c.data.root,
                **{**c.data.kwargs, **c.data.split_kwargs.get(split, {})},
            )
            for split in ("train", "val", "test")
        )
        if getattr(self.train_set, "multi_input", False):
            raise ValueError(
                f"dataset {c.data.name!r} is multi-input (one input set per task); the trainer "
                "supports single-input datasets"
            )
        self.tasks: list[Task] = list(self.train_set.tasks)
        self.task_names = [t.name for t in self.tasks]
        sample = self.train_set[0][0]
        model_kwargs = dict(c.model.kwargs)
        model_kwargs.setdefault("in_channels", int(sample.shape[0]))  # channels, or features of a vector
        torch.manual_seed(c.train.seed)
        self.model = mt.create_model(
            c.model.name, backbone=c.model.backbone, tasks=self.tasks, **model_kwargs
        )
        self.model.to(self.device)
        self.method = build_method(c.method.name, c.method.kwargs, len(self.tasks)).to(self.device)
        self.mode = self._resolve_mode()
        params = list(self.model.parameters()) + list(self.method.parameters())
        self.optimizer = _make_optimizer(c, params)
        self.scheduler = _make_scheduler(c, self.optimizer)
        self.logger = RunLogger(self.out_dir, tensorboard=c.train.tensorboard)
        self.epoch = 0
        self.step_in_epoch = 0
        self.global_step = 0
        self.skipped_steps = 0
        self.best: dict[str, Any] = {"epoch": -1, "delta_m": -math.inf}
        self.reference: dict[str, dict[str, float]] | None = _load_baseline(c.train.baseline)
        self.step_times: list[float] = []

    # ---- set-up helpers -------------------------------------------------------------------------
    def _resolve_mode(self) -> str:
        if self.method.kind == "loss":
            return "loss"
        if self.config.method.mode == "parameters":
            return "parameters"
        if not self.method.supports_features:
            raise ValueError(
                f"method {self.config.method.name!r} does not support features mode: "
                f"{self.method.features_error}"
            )
        if not self.model.has_shared_representation:
            return "parameters"  # documented fall-back: the architecture has no single shared representation
        return "features"

    def _batches(self, epoch: int, start: int) -> list[list[int]]:
        n = len(self.train_set)
        g = torch.Generator().manual_seed(self.config.train.seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g).tolist()
        bs = self.config.data.batch_size
        batches = [order[i : i + bs] for i in range(0, n, bs)]
        limit = self.config.train.max_steps_per_epoch
        if limit is not None:
            batches = batches[:limit]
        return batches[start:]

    # ---- one step -------------------------------------------------------------------------------
    def _losses(self, x: Tensor, targets: dict[str, Tensor]) -> tuple[dict[str, Tensor], Any]:
        features = None
        if self.mode == "features":
            features = self.model.encode(x)
            preds = self.model.decode(features)
        else:
            preds = self.model(x)
        aux = self.model.aux_outputs
        losses = {}
        for task in self.tasks:
            loss = task.loss(preds[task.name], targets[task.name])
            for extra in aux.get(task.name, []):
                loss = loss + self.config.train.aux_weight * task.loss(extra, targets[task.name])
            losses[task.name] = loss
        return losses, features

    def train_step(self, x: Tensor, targets: dict[str, Tensor]) -> dict[str, Any] | None:
        self.model.train()
        t0 = time.perf_counter()
        losses, features = self._losses(x, targets)
        bad = [name for name, v in losses.items() if not torch.isfinite(v.detach()).all()]
        if bad:
            if self.config.train.nonfinite == "skip":
                self.skipped_steps += 1
                self.optimizer.zero_grad(set_to_none=True)
                return None
            raise NonFiniteLossError(
                f"non-finite loss for task {bad[0]!r} at epoch {self.epoch} step {self.global_step} "
                f"(all bad tasks: {bad}); the last good checkpoint is {self.out_dir / 'checkpoint.pt'}"
            )
        regularization = self.model.regularization()
        if regularization is not None:  # e.g. DSelect-k's gate entropy: added as is, not balanced
            regularization.backward(retain_graph=True)
        shared = list(self.model.shared_parameters())
        info = mt.backward(losses, self.method, shared=shared, features=features)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        self.step_times.append(dt)
        record = {"epoch": self.epoch, "step": self.global_step, **info.as_dict(), "step_time": dt}
        return record

    # ---- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, dataset: Dataset) -> dict[str, dict[str, float]]:
        self.model.eval()
        metrics = MultiTaskMetrics(self.tasks)
        loader = DataLoader(
            dataset,
            batch_size=self.config.data.eval_batch_size,
            shuffle=False,
            num_workers=self.config.data.num_workers,
        )
        for x, targets in loader:
            x = x.to(self.device)
            targets = {k: v.to(self.device) for k, v in targets.items()}
            metrics.update(self.model(x), targets)
        return metrics.compute()

    @property
    def higher_is_better(self) -> dict[str, dict[str, bool]]:
        return MultiTaskMetrics(self.tasks).higher_is_better

    # ---- checkpoints ----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "method": self.method.state_dict(),
            "rng": rng_state(),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "skipped_steps": self.skipped_steps,
            "best": self.best,
            "reference": self.reference,
            "log": self.logger.state(),
            "step_times": list(self.step_times),
            "config": self.config.to_dict(),
        }

    def save(self) -> None:
        save_checkpoint(self.out_dir / "checkpoint.pt", self._state())
        self.logger.flush()

    def restore(self, path: Path) -> None:
        state = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.method.load_state_dict(state["method"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.skipped_steps = int(state["skipped_steps"])
        self.best = dict(state["best"])
        self.reference = state["reference"]
        self.logger.load_state(state["log"])
        self.step_times = list(state["step_times"])
        set_rng_state(state["rng"])

    # ---- the loop -------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict[str, Any]:
        c = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        c.to_yaml(self.out_dir / "config.yaml")
        ckpt = self.out_dir / "checkpoint.pt"
        if resume and ckpt.is_file():
            self.restore(ckpt)
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
                self._end_epoch()
            self.logger.flush()
            result = self._finish(time.perf_counter() - t_start)
        finally:
            torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
            self.logger.close()
        return result

    def _train_epoch(self) -> None:
        from tqdm.auto import tqdm

        c = self.config
        batches = self._batches(self.epoch, self.step_in_epoch)
        bar = tqdm(
            batches,
            desc=f"epoch {self.epoch + 1}/{c.train.epochs}",
            disable=not c.train.progress,
            leave=False,
        )
        for idx in bar:
            x, targets = _collate([self.train_set[i] for i in idx])
            x = x.to(self.device)
            targets = {k: v.to(self.device) for k, v in targets.items()}
            record = self.train_step(x, targets)
            self.step_in_epoch += 1
            self.global_step += 1
            if record is not None:
                self.logger.log_step(record)
                bar.set_postfix({k[5:]: f"{v:.3f}" for k, v in record.items() if k.startswith("loss/")})
            if c.train.checkpoint_every and self.step_in_epoch % c.train.checkpoint_every == 0:
                self.save()

    def _end_epoch(self) -> None:
        val = self.evaluate(self.val_set)
        if self.reference is None:
            self.reference = val
        self.method.on_epoch_end(val, self.higher_is_better)
        dm = delta_m(val, self.reference, self.higher_is_better, convention="vandenhende")
        record: dict[str, Any] = {"epoch": self.epoch, "val_delta_m": dm, "skipped_steps": self.skipped_steps}
        for task, values in val.items():
            for metric, value in values.items():
                record[f"val/{task}/{metric}"] = value
        record["lr"] = self.optimizer.param_groups[0]["lr"]
        self.logger.log_epoch(record)
        if dm > self.best["delta_m"]:
            self.best = {"epoch": self.epoch, "delta_m": dm, "val": val}
            save_checkpoint(self.out_dir / "best.pt", {"model": self.model.state_dict(), "epoch": self.epoch})
        if self.scheduler is not None:
            self.scheduler.step()
        self.epoch += 1
        self.step_in_epoch = 0
        self.save()

    def _finish(self, wall: float) -> dict[str, Any]:
        best = load_checkpoint(self.out_dir / "best.pt", map_location=self.device)
        self.model.load_state_dict(best["model"])
        test = self.evaluate(self.test_set)
        result = {
            "dataset": self.config.data.name,
            "model": self.config.model.name,
            "backbone": self.config.model.backbone,
            "method": self.config.method.name,
            "mode": self.mode,
            "seed": self.config.train.seed,
            "tasks": self.task_names,
            "best_epoch": self.best["epoch"],
            "val": self.best["val"],
            "val_delta_m": self.best["delta_m"],
            "val_delta_m_reference": "baseline" if self.config.train.baseline else "first epoch",
            "test": test,
            "higher_is_better": self.higher_is_better,
            "params": sum(p.numel() for p in self.model.parameters()),
            "step_time_ms": 1e3 * float(np.mean(self.step_times)) if self.step_times else None,
            "skipped_steps": self.skipped_steps,
            "wall_time_s": wall,
            "epochs": self.config.train.epochs,
        }
        write_json(self.out_dir / "result.json", result)
        return result


# ---- module helpers ------------------------------------------------------------------------------
def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _collate(items: list[tuple[Tensor, dict[str, Tensor]]]) -> tuple[Tensor, dict[str, Tensor]]:
    x = torch.stack([torch.as_tensor(i[0]) for i in items])
    keys = items[0][1].keys()
    return x, {k: torch.stack([torch.as_tensor(i[1][k]) for i in items]) for k in keys}


def _make_optimizer(c: Config, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    o = c.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    raise ValueError(f"config key 'optim.name': unknown optimizer {o.name!r} (adam, adamw, sgd)")


def _make_scheduler(c: Config, opt: torch.optim.Optimizer) -> Any:
    o = c.optim
    if o.scheduler == "none":
        return None
    if o.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=o.step_size, gamma=o.gamma)
    if o.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, c.train.epochs))
    raise ValueError(f"config key 'optim.scheduler': unknown scheduler {o.scheduler!r} (none, step, cosine)")


def _load_baseline(path: str | None) -> dict[str, dict[str, float]] | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config key 'train.baseline': baseline results file not found: {p}")
    data = json.loads(p.read_text(encoding="utf-8"))
    return data["val"] if "val" in data else data
