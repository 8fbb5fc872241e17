"""Task affinity -> groups -> branched model, compared with hard sharing and single-task networks.

On SARCOS (7 torque regression tasks, shipped with the package):

1. measure TAG's lookahead affinity (Fifty et al. 2021) during ``--steps`` steps of joint training of
   a hard-parameter-sharing MLP, with the run's Adam optimizer (optimizer-aware update);
2. choose at most ``--k`` groups: the overlapping selection (as the papers) and the best partition,
   with both scores (``to_branched_config(..., helpers="partition")``);
3. train, for each seed, the partition as a ``branched`` tree (first block shared, then one branch
   per group) and as separate branches of one model (``shared_stages=0``); the overlapping selection
   as the papers train it: one network per selected group, helper tasks included, each run on its
   tasks only through ``data.tasks`` (``network_configs``), every task read from the network that
   serves it (``served_results``); plus ``hps`` and ``single_task``. Report test Δm against
   single-task (Vandenhende convention, in %) and parameters.

    PYTHONPATH=src python benchmarks/affinity_walkthrough.py            # a few minutes on a CPU
    PYTHONPATH=src python benchmarks/affinity_walkthrough.py --epochs 2 --seeds 0   # a quick look
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

import multitask as mt
from multitask.affinity import (
    LookaheadAffinity,
    network_configs,
    select_groups,
    served_results,
    to_branched_config,
)
from multitask.metrics.delta import delta_m
from multitask.train.config import Config
from multitask.train.trainer import Trainer

HIDDEN = [64, 64, 64]
PER_GROUP = "per-group networks (data.tasks)"


def base_config(epochs: int, seed: int, out: str) -> dict[str, Any]:
    return {
        "data": {"name": "sarcos", "batch_size": 128, "eval_batch_size": 1000},
        "model": {"name": "hps", "backbone": "mlp", "kwargs": {"backbone_kwargs": {"hidden": HIDDEN}}},
        "optim": {"name": "adam", "lr": 1e-3},
        "train": {"epochs": epochs, "seed": seed, "device": "cpu", "out_dir": out, "progress": False,
                  "tensorboard": False},
    }  # fmt: skip


def measure_tag(cfg: dict[str, Any], steps: int) -> mt.affinity.TaskAffinity:
    trainer = Trainer(Config.from_dict(cfg))
    tag = LookaheadAffinity(trainer.model, optimizer=trainer.optimizer)  # the Adam step itself
    loader = DataLoader(
        trainer.train_set, batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    done = 0
    while done < steps:
        for x, y in loader:
            if done == steps:
                break
            tag.step((x, y))  # before the optimizer step, on the same batch
            trainer.train_step(x, y)
            done += 1
    return tag.compute()


def train(cfg: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    cfg = copy.deepcopy(cfg)
    cfg["model"] = model
    return Trainer(Config.from_dict(cfg)).fit()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=100, help="joint-training steps over which TAG is averaged")
    p.add_argument("--k", type=int, default=3)
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        affinity = measure_tag(base_config(1, 0, str(Path(tmp) / "tag")), args.steps)
        names = list(affinity.task_names)
        print(f"TAG affinity over {affinity.num_steps} steps (row i, column j: Z_i->j, x1e3):")
        for name, row in zip(names, affinity.matrix.tolist()):
            print(f"  {name:>9} " + " ".join(f"{1e3 * v:7.2f}" for v in row))
        overlap = select_groups(affinity, args.k)
        part = select_groups(affinity, args.k, overlap=False)
        tree = to_branched_config(overlap, 3, shared_stages=1, helpers="partition")
        print(f"\noverlapping selection (k={args.k}): {overlap.named_groups()}  score {overlap.score:.5f}")
        print(f"best partition:                  {part.named_groups()}  score {part.score:.5f}")
        print(f"tree from the selection: score {tree.score:.5f} (selection {tree.selection_score:.5f})")
        nets = to_branched_config(overlap, 1, shared_stages=0, separate=True).named()
        print("networks of the selection: " + "; ".join(f"{n['tasks']} serving {n['serves']}" for n in nets))
        print()

        backbone = {"backbone_kwargs": {"hidden": HIDDEN}}
        separate = to_branched_config(part, 1, shared_stages=0).branches
        archs = {
            "single_task": {"name": "single_task", "backbone": "mlp", "kwargs": backbone},
            "hps": {"name": "hps", "backbone": "mlp", "kwargs": backbone},
            "branched (tree)": {"name": "branched", "backbone": "mlp",
                                "kwargs": {**backbone, "branches": tree.branches}},
            "branched (separate)": {"name": "branched", "backbone": "mlp",
                                    "kwargs": {**backbone, "branches": separate}},
        }  # fmt: skip
        rows: dict[str, list[float]] = {a: [] for a in [*archs, PER_GROUP]}
        params: dict[str, int] = {}
        for seed in args.seeds:
            results = {}
            for label, model in archs.items():
                out = str(Path(tmp) / f"{label.replace(' ', '_')}_{seed}")
                results[label] = train(base_config(args.epochs, seed, out), model)
                params[label] = results[label]["params"]
            per_group = to_branched_config(overlap, 1, shared_stages=0, separate=True)  # a run per group
            base_cfg = base_config(args.epochs, seed, str(Path(tmp) / f"per_group_{seed}"))
            base_cfg["model"] = archs["hps"]
            runs = [Trainer(Config.from_dict(c)).fit() for c in network_configs(per_group, base_cfg)]
            results[PER_GROUP] = served_results(per_group, runs)
            params[PER_GROUP] = results[PER_GROUP]["params"]
            base = results["single_task"]
            for label, res in results.items():
                rows[label].append(delta_m(res["test"], base["test"], res["higher_is_better"]))
    print(
        f"SARCOS, MLP {HIDDEN}, Adam 1e-3, {args.epochs} epochs, seeds {args.seeds}; test Δm vs single-task"
    )
    print("| model | params | test Δm % (mean ± std) |\n|---|---|---|")
    for label, vals in rows.items():
        std = statistics.stdev(vals) if len(vals) > 1 else 0.0
        print(f"| {label} | {params[label]} | {statistics.mean(vals):+.2f} ± {std:.2f} |")


if __name__ == "__main__":
    main()
