"""The trainer's step time against a bare PyTorch loop on the same model, batch and optimizer.

Setting: MultiMNIST (shipped digits), hard parameter sharing on LeNet, equal weighting (EW), Adam
(lr 1e-3), batch 128, CPU. The trainer side runs ``Trainer._train_epoch`` (batch from the resident
tensors, ``multitask.backward``, optimizer step, non-finite check, step record) with
``train.max_steps_per_epoch = --steps``; the bare side is the loop a user writes by hand on a copy of
the same model: index the same tensors, forward, sum of the task losses, ``backward``, ``step``,
``zero_grad``. Blocks of ``--steps`` steps alternate (trainer, bare, trainer, ...) ``--repeats`` times;
each side's time per step is the median over its blocks. It prints both and their ratio; the floor is
1.15 (exit status 1 above it).

Run:  ``.venv/bin/python benchmarks/trainer_overhead.py`` (options: ``--steps 20``, ``--repeats 7``,
``--batch-size 128``, ``--threads 1``). Timings need a quiet machine.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time

import torch

from multitask.train import Config, Trainer
from multitask.train.logging import RunLogger

FLOOR = 1.15


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=20, help="steps per timed block")
    p.add_argument("--repeats", type=int, default=7, help="blocks per side (interleaved)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = tempfile.mkdtemp(prefix="trainer_overhead_")
    n_train = args.batch_size * args.steps
    cfg = Config.from_dict(
        {
            "data": {"name": "multimnist", "batch_size": args.batch_size, "in_memory": "always",
                     "kwargs": {"n_train": n_train, "n_val": 100, "n_test": 100}},
            "model": {"name": "hps", "backbone": "lenet"},
            "method": {"name": "ew"},
            "optim": {"name": "adam", "lr": 1e-3},
            "train": {"epochs": 10**6, "out_dir": out, "progress": False, "tensorboard": False,
                      "max_steps_per_epoch": args.steps, "deterministic": False},
        }
    )  # fmt: skip
    trainer = Trainer(cfg)
    trainer.logger = RunLogger(trainer.out_dir, tensorboard=False)
    split = trainer.splits["train"]
    x_all, y_all = split.x, split.targets

    model = copy.deepcopy(trainer.model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tasks = trainer.tasks

    def trainer_block() -> float:
        t0 = time.perf_counter()
        trainer._train_epoch()  # max_steps_per_epoch = steps; no validation
        dt = time.perf_counter() - t0
        trainer.epoch += 1
        trainer.step_in_epoch = 0
        trainer.logger.steps.clear()
        return dt / args.steps

    def bare_block(epoch: int) -> float:
        g = torch.Generator().manual_seed(epoch)
        order = torch.randperm(x_all.shape[0], generator=g).split(args.batch_size)[: args.steps]
        model.train()
        t0 = time.perf_counter()
        for idx in order:
            x = x_all.index_select(0, idx)
            preds = model(x)
            loss = sum(t.loss(preds[t.name], y_all[t.name].index_select(0, idx)) for t in tasks)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return (time.perf_counter() - t0) / args.steps

    trainer_block(), bare_block(0)  # warm-up
    ours, bare = [], []
    for r in range(args.repeats):
        ours.append(trainer_block())
        bare.append(bare_block(r + 1))
    t, b = statistics.median(ours), statistics.median(bare)
    ratio = t / b
    print(f"trainer step: {1e3 * t:.2f} ms (median of {args.repeats} blocks of {args.steps} steps)")
    print(f"bare loop step: {1e3 * b:.2f} ms")
    print(
        f"ratio trainer / bare: {ratio:.3f} (floor {FLOOR}); threads {args.threads}, batch {args.batch_size}"
    )
    return 0 if ratio <= FLOOR else 1


if __name__ == "__main__":
    sys.exit(main())
