"""``multitask affinity CONFIG.yaml --method tag|cosine|rsa``: measure task affinity, pick groups.

* ``tag``: the lookahead affinity (Fifty et al. 2021) measured every ``--every`` steps of ``--steps``
  steps of joint training of the config's model and method, with the config's optimizer
  (optimizer-aware update), then :func:`~multitask.affinity.select_groups` with budget ``--k`` and the
  networks of :func:`~multitask.affinity.to_branched_config` (one per group: ``shared_stages=0``).
* ``cosine``: the same with mean task-gradient cosines on the shared parameters.
* ``rsa``: single-task networks (a ``branched`` model split at block 0) trained ``--steps`` steps,
  their per-block features on ``--inputs`` validation inputs, the RSA dissimilarity per block and the
  branching tree of least dissimilarity whose parameter count is at most ``--budget`` times that of the
  fully shared backbone (Vandenhende et al. 2020).

The result is printed and, with ``--out``, written as JSON. With ``--configs DIR`` each network to train
is also written as a run config, ``DIR/network<i>.yaml`` (the config file with ``data.tasks`` set to the
network's tasks, helpers included; a tree as a ``branched`` model), ready for
``multitask train DIR/network<i>.yaml``; the result lists their paths under ``"configs"``.

Wire it into the ``multitask`` command with ``add_parser(subparsers)`` and ``{"affinity": run}`` in the
dispatch table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``affinity`` subcommand on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "affinity",
        help="measure task affinity and choose task groups",
        description="Measure task affinity (TAG lookahead, gradient cosine, or layer-wise RSA) on a "
        "config's data and model, and choose task groups or a branching tree.",
    )
    p.add_argument("config", help="YAML config file (data, model, optimizer, method)")
    p.add_argument("--method", default="tag", choices=["tag", "cosine", "rsa"])
    p.add_argument("--steps", type=int, default=100, help="training steps to measure over (default 100)")
    p.add_argument("--every", type=int, default=1, help="tag/cosine: measure every this many steps")
    p.add_argument("--k", type=int, default=2, help="tag/cosine: the most groups (networks)")
    p.add_argument("--singleton", default="zero", choices=["zero", "tag"], help="score of a lone task")
    p.add_argument("--scale", default="none", choices=["none", "lr"], help="tag: divide Z by the lr")
    p.add_argument("--budget", type=float, default=2.0, help="rsa: parameters, in fully shared networks")
    p.add_argument("--inputs", type=int, default=64, help="rsa: validation inputs for the features")
    p.add_argument("--out", default=None, help="write the result as JSON here")
    p.add_argument("--configs", default=None, metavar="DIR",
                   help="write one run config per network to train here (network<i>.yaml)")  # fmt: skip
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable)")  # fmt: skip
    return p


def run(args: argparse.Namespace) -> int:
    """Run the subcommand (see the module docstring); returns the exit status."""
    from multitask.train.config import Config

    for name in ("steps", "every", "k", "inputs"):
        if getattr(args, name) < 1:
            raise ValueError(f"affinity: --{name} must be >= 1, got {getattr(args, name)}")
    cfg = Config.from_yaml(args.config, args.overrides)
    base = cfg.to_dict()  # the networks' configs start from the file as given
    with tempfile.TemporaryDirectory() as tmp:
        cfg.train.out_dir = str(Path(tmp) / "run")
        cfg.train.tensorboard = False
        cfg.train.progress = False
        result, networks = _rsa(cfg, args) if args.method == "rsa" else _grouping(cfg, args)
    if args.configs:
        result["configs"] = _write_configs(networks, base, Path(args.configs))
    text = "{\n" + ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in result.items()) + "\n}"
    print(text)
    if args.out:
        from multitask.train.config import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    return 0


def _write_configs(networks: Any, base: dict[str, Any], folder: Path) -> list[str]:
    from multitask.affinity import network_configs
    from multitask.train.config import Config

    paths = []
    for i, net in enumerate(network_configs(networks, base)):
        path = folder / f"network{i}.yaml"
        Config.from_dict(net).to_yaml(path)  # validated, written atomically
        paths.append(str(path))
    return paths


def _loader(trainer: Any, cfg: Any) -> Any:
    g = torch.Generator().manual_seed(cfg.train.seed)
    while True:
        yield from DataLoader(trainer.train_set, batch_size=cfg.data.batch_size, shuffle=True, generator=g)


def _grouping(cfg: Any, args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    from multitask.affinity import (
        AffinityAccumulator,
        LookaheadAffinity,
        select_groups,
        task_gradient_cosines,
        to_branched_config,
    )
    from multitask.train.trainer import Trainer

    trainer = Trainer(cfg)
    model, names = trainer.model, trainer.task_names
    tag = None
    if args.method == "tag":
        tag = LookaheadAffinity(model, optimizer=trainer.optimizer, scale=args.scale, every=args.every)
    acc = AffinityAccumulator(names, "gradient_cosine")
    batches = _loader(trainer, cfg)
    for step in range(args.steps):
        x, targets = next(batches)
        x = x.to(trainer.device)
        targets = {k: v.to(trainer.device) for k, v in targets.items()}
        if tag is not None:
            tag.step((x, targets))
        elif step % args.every == 0:
            preds = model(x)
            losses = {t.name: t.loss(preds[t.name], targets[t.name]) for t in model.tasks}
            acc.update(task_gradient_cosines(losses, list(model.shared_parameters())))
        trainer.train_step(x, targets)
    affinity = tag.compute() if tag is not None else acc.compute()
    grouping = select_groups(affinity, args.k, singleton=args.singleton)
    config = to_branched_config(grouping, 1, shared_stages=0)
    return {
        "method": args.method,
        "tasks": names,
        "affinity": affinity.to_dict(),
        "num_steps": affinity.num_steps,
        "groups": grouping.named_groups(),
        "score": grouping.score,
        "networks": config.named(),
    }, config


def _rsa(cfg: Any, args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    from multitask.affinity.configs import BranchedConfig, Network
    from multitask.affinity.rsa import branch_features, branching_tree, layer_dissimilarity
    from multitask.data import create_dataset
    from multitask.train.trainer import Trainer

    if cfg.data.tasks is not None:  # names checked by the trainer below
        t = len(cfg.data.tasks)
    else:
        kwargs = {**cfg.data.kwargs, **cfg.data.split_kwargs.get("train", {})}
        t = len(create_dataset(cfg.data.name, split="train", root=cfg.data.root, **kwargs).tasks)
    cfg.model.name = "branched"
    cfg.model.kwargs = {**cfg.model.kwargs, "branches": [[[i] for i in range(t)]]}  # single-task networks
    trainer = Trainer(cfg)
    batches = _loader(trainer, cfg)
    for _ in range(args.steps):
        x, targets = next(batches)
        trainer.train_step(x.to(trainer.device), {k: v.to(trainer.device) for k, v in targets.items()})
    n = min(args.inputs, len(trainer.val_set))
    x = torch.stack([torch.as_tensor(trainer.val_set[i][0]) for i in range(n)]).to(trainer.device)
    trainer.model.eval()
    features = branch_features(trainer.model, x)
    dissimilarity = layer_dissimilarity(features, "rsa")
    costs = [float(sum(p.numel() for p in blocks[0].parameters())) for blocks in trainer.model.branch_blocks]
    tree = branching_tree(dissimilarity, costs, args.budget * sum(costs))
    names = trainer.task_names
    every = tuple(range(t))
    nan = float("nan")  # a dissimilarity tree has no affinity score
    networks = BranchedConfig((Network(every, every, tree.branches),), nan, nan, tuple(names))
    return {
        "method": "rsa",
        "tasks": names,
        "dissimilarity": dissimilarity.round(6).tolist(),
        "block_params": costs,
        "branches": [[[names[i] for i in g] for g in part] for part in tree.branches],
        "score": tree.score,
        "params": tree.cost,
        "budget_params": args.budget * sum(costs),
    }, networks
