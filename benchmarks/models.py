"""Parameter counts and CPU forward time of every registered architecture.

For each configuration and each architecture in ``multitask.list_models()`` it prints one row:
total parameters, shared parameters, parameters per task (in task order) and the median forward time
(eval mode, no autograd) in milliseconds on the CPU at batch 8, the median of ``--repeats`` runs
after one warm-up. With ``--train`` it adds the median training forward+backward time (train mode,
``Σ task losses`` with the deep-supervision outputs and any ``regularization()`` term).
Architectures are built with their default hyper-parameters; one that cannot run a configuration
(e.g. PAD-Net on a vector backbone) shows the reason instead.

Configurations:

* ``multimnist``: MultiMNIST-like, 1x28x28 inputs, 2 classification tasks (10 classes each), LeNet
  backbone (Sener & Koltun's encoder);
* ``dense-resnet``: 3x64x64 inputs, NYUv2-like segmentation (13 classes), depth and normals, on a
  dilated ResNet-18 at width 16 (output stride 8);
* ``dense-segnet`` (only when asked for: slow on a CPU): the same tasks on SegNet at width 8, whose
  features are at full resolution;
* ``nyuv2-segnet`` (only with ``--count-only``): NYUv2's 13-class segmentation, depth and normals at
  288x384 on the full SegNet (width 64), MTAN with the reference's prediction layers (``head="segnet"``):
  the setting of Liu et al.'s ``model_segnet_mtan.py``.

``--count-only`` builds the models on the ``meta`` device and prints parameter counts only (no
forward, no memory), so full-size networks can be counted on any machine.

Run:  ``.venv/bin/python benchmarks/models.py`` (options: ``--configs multimnist dense-segnet``,
``--models mmoe ple``, ``--repeats 3``, ``--threads 1``, ``--train``; ``--configs nyuv2-segnet
--count-only --models hps mtan`` for the full-size counts). The default run takes about
20 s of CPU time on one core (most of it MTI-Net's forward on the dense configuration).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

import multitask as mt
from multitask.core.tasks import Task


@dataclass
class Config:
    """One benchmark setting: backbone, tasks and input shape."""

    name: str
    backbone: str
    tasks: list[Task]
    input_shape: tuple[int, ...]
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return self.input_shape[0]


DENSE_TASKS = [Task("seg", "segmentation", 13), Task("depth", "depth", 1), Task("normals", "normals", 3)]
CONFIGS: dict[str, Config] = {
    "multimnist": Config(
        "multimnist",
        "lenet",
        [Task("left", "classification", 10), Task("right", "classification", 10)],
        (1, 28, 28),
    ),
    "dense-segnet": Config("dense-segnet", "segnet", DENSE_TASKS, (3, 64, 64), {"width": 8}),
    "dense-resnet": Config(
        "dense-resnet", "resnet18", DENSE_TASKS, (3, 64, 64), {"width": 16, "dilated": True}
    ),
    "nyuv2-segnet": Config("nyuv2-segnet", "segnet", DENSE_TASKS, (3, 288, 384), {"width": 64}),
}
#: configurations too large to run on a CPU: parameter counts only
COUNT_ONLY = {"nyuv2-segnet"}
#: extra constructor arguments some architectures need for a meaningful default
EXTRA_KWARGS: dict[str, Callable[[Config], dict[str, Any]]] = {
    "mtan": lambda cfg: {"head": "segnet"} if cfg.name == "nyuv2-segnet" else {},
}


def count(params: Any) -> int:
    return sum(p.numel() for p in params)


def human(n: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(int(n))


def random_targets(
    tasks: list[Task], batch: int, size: tuple[int, int], gen: torch.Generator
) -> dict[str, Tensor]:
    out = {}
    for t in tasks:
        if t.kind == "classification":
            out[t.name] = torch.randint(t.num_outputs, (batch,), generator=gen)
        elif t.kind == "segmentation":
            out[t.name] = torch.randint(t.num_outputs, (batch, *size), generator=gen)
        elif t.kind == "depth":
            out[t.name] = torch.rand(batch, 1, *size, generator=gen) + 0.5
        elif t.kind == "normals":
            out[t.name] = nn.functional.normalize(torch.randn(batch, 3, *size, generator=gen), dim=1)
        else:
            raise ValueError(f"benchmark: no random target for task {t.name!r} of kind {t.kind!r}")
    return out


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def counts(model: Any, cfg: Config) -> dict[str, Any]:
    return {
        "total": count(model.parameters()),
        "shared": count(model.shared_parameters()),
        "per_task": [count(model.task_parameters(t.name)) for t in cfg.tasks],
    }


def measure(
    name: str, cfg: Config, batch: int, repeats: int, train: bool, count_only: bool = False
) -> dict[str, Any]:
    torch.manual_seed(0)
    kwargs = EXTRA_KWARGS[name](cfg) if name in EXTRA_KWARGS else {}
    try:
        with torch.device("meta" if count_only else "cpu"):
            model = mt.create_model(
                name,
                backbone=cfg.backbone,
                tasks=list(cfg.tasks),
                in_channels=cfg.in_channels,
                backbone_kwargs=dict(cfg.backbone_kwargs),
                **kwargs,
            )
    except (ValueError, TypeError) as err:
        return {"error": str(err).splitlines()[0]}
    if count_only:
        return {**counts(model, cfg), "forward_ms": None, "train_ms": None}
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *cfg.input_shape, generator=gen)
    targets = random_targets(cfg.tasks, batch, tuple(cfg.input_shape[1:]), gen)  # type: ignore[arg-type]

    def forward() -> None:
        with torch.no_grad():
            model(x)

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        out = model(x)
        loss = sum(t.loss(out[t.name], targets[t.name]) for t in cfg.tasks)
        for task_name, preds in getattr(model, "aux_outputs", {}).items():
            task = cfg.tasks[[t.name for t in cfg.tasks].index(task_name)]
            loss = loss + sum(task.loss(p, targets[task_name]) for p in preds)
        regularization = getattr(model, "regularization", None)
        if callable(regularization):
            loss = loss + regularization()
        loss.backward()

    model.eval()
    fwd = median_ms(forward, repeats)
    step = None
    if train:
        model.train()
        step = median_ms(train_step, repeats)
    return {**counts(model, cfg), "forward_ms": fwd, "train_ms": step}


def print_table(cfg: Config, rows: dict[str, dict[str, Any]], batch: int, train: bool) -> None:
    tasks = ", ".join(f"{t.name} ({t.kind})" for t in cfg.tasks)
    kw = f" {cfg.backbone_kwargs}" if cfg.backbone_kwargs else ""
    print(f"\n## {cfg.name}: backbone {cfg.backbone}{kw}, input {cfg.input_shape}")
    print(f"##   tasks: {tasks}; batch {batch}, CPU, {torch.get_num_threads()} thread(s)")
    header = f"{'model':<15} {'params':>8} {'shared':>8} {'per task':<26} {'fwd ms':>8}"
    header += f" {'fwd+bwd ms':>10}" if train else ""
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:<15} n/a: {r['error']}")
            continue
        per_task = " / ".join(human(n) for n in r["per_task"])
        line = f"{name:<15} {human(r['total']):>8} {human(r['shared']):>8} {per_task:<26}"
        if r["forward_ms"] is None:
            print(f"{line} {'-':>8}  ({r['total']:,} parameters)")
            continue
        line += f" {r['forward_ms']:>8.1f}"
        if train:
            line += f" {r['train_ms']:>10.1f}"
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["multimnist", "dense-resnet"], choices=list(CONFIGS))
    parser.add_argument("--models", nargs="+", default=None, help="default: every registered architecture")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train", action="store_true", help="also time a training forward+backward")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--count-only", action="store_true", help="parameter counts only (meta device)")
    args = parser.parse_args(argv)
    too_big = sorted(set(args.configs) & COUNT_ONLY)
    if too_big and not args.count_only:
        raise SystemExit(f"configuration(s) {too_big} are counted only: add --count-only")
    torch.set_num_threads(args.threads)
    names = args.models or mt.list_models()
    unknown = sorted(set(names) - set(mt.list_models()))
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; known: {mt.list_models()}")
    for cfg_name in args.configs:
        cfg = CONFIGS[cfg_name]
        rows = {
            name: measure(name, cfg, args.batch, args.repeats, args.train, args.count_only) for name in names
        }
        print_table(cfg, rows, args.batch, args.train)


if __name__ == "__main__":
    main()
