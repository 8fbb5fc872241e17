"""The ``sharing`` benchmark suites: the learned-sharing models against HPS and single-task.

Run with ``python -m multitask.bench.sharing_suite [--suite sharing|sharing-dense] [--out DIR]``. Each
architecture trains with equal weighting after the single-task baseline, as ``multitask bench`` runs
a grid; the searches (``learning_to_branch``, ``bmtas``, ``adashare``) then save their found network
(``found_model.yaml`` in the run folder) and train it from scratch as a second run, reported as
``<search>>found`` with the search's and the re-training's wall time.

The trainer calls the model hooks these models need (``on_losses`` before ``regularization()``,
``on_epoch_end`` before validation). ``SUITES`` has the same form as ``multitask.bench.runner.SUITES``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

SUITES: dict[str, dict[str, Any]] = {
    "sharing": {
        "base": {
            "data": {"name": "multimnist", "batch_size": 128, "eval_batch_size": 1000},
            "model": {"backbone": "lenet"},
            "optim": {"name": "adam", "lr": 1e-3},
            "train": {"epochs": 4},
        },
        "architectures": [
            "hps",
            "maximum_roaming",
            "soft_ordering",
            "routing",
            "stochastic_filter_groups",
            "learning_to_branch",
            "bmtas",
        ],
        "methods": ["ew"],
        "all_methods": False,
    },
    "sharing-dense": {
        "base": {
            "data": {
                "name": "shapes",
                "batch_size": 16,
                "eval_batch_size": 100,
                "kwargs": {"size": 32},
                "split_kwargs": {"train": {"n": 400}, "val": {"n": 100}, "test": {"n": 100}},
            },
            "model": {"backbone": "resnet18", "kwargs": {"backbone_kwargs": {"width": 8}}},
            "optim": {"name": "adam", "lr": 3e-3},
            "train": {"epochs": 3},
        },
        "architectures": [
            "hps",
            "adashare",
            "maximum_roaming",
            "soft_ordering",
            "stochastic_filter_groups",
            "learning_to_branch",
            "bmtas",
        ],
        "methods": ["ew"],
        "all_methods": False,
    },
}

SEARCHES = ("adashare", "learning_to_branch", "bmtas")


def sharing_suites() -> dict[str, dict[str, Any]]:
    """A copy of the suite definitions (for ``multitask.bench.runner.SUITES.update``)."""
    return copy.deepcopy(SUITES)


def _hooked_trainer() -> type:
    """The trainer (it calls the model hooks ``on_losses`` and ``on_epoch_end`` itself)."""
    from multitask.train.trainer import Trainer

    return Trainer


def _model(entry: Any, base: dict[str, Any]) -> dict[str, Any]:
    model = copy.deepcopy(base.get("model", {}))
    if isinstance(entry, str):
        model["name"] = entry
    else:
        model.update(copy.deepcopy(entry))
    return model


def _train(
    base: dict[str, Any], model: dict[str, Any], run_dir: Path, seed: int, baseline: str | None
) -> dict:
    from multitask.train.config import Config

    done = run_dir / "result.json"
    if done.is_file():
        return {"status": "ok", "dir": str(run_dir), **json.loads(done.read_text(encoding="utf-8"))}
    cfg = copy.deepcopy(base)
    cfg["model"] = model
    cfg["method"] = {"name": "ew", "kwargs": {}, "mode": "parameters"}
    cfg.setdefault("train", {}).update(
        {"seed": seed, "out_dir": str(run_dir), "progress": False, "baseline": baseline, "tensorboard": False}
    )
    t0 = time.perf_counter()
    try:
        result = _hooked_trainer()(Config.from_dict(cfg)).fit(resume=True)
    except Exception as err:  # one failing model must not lose the suite
        return {"status": "failed", "model": model["name"], "method": "ew", "seed": seed, "error": repr(err)}
    return {"status": "ok", "dir": str(run_dir), "wall_s": time.perf_counter() - t0, **result}


def _found(run_dir: Path) -> dict[str, Any]:
    """Rebuild a finished search run with its selected weights and save its found network."""
    from multitask.models.sharing._common import save_model_config
    from multitask.train.checkpoint import load_checkpoint
    from multitask.train.config import Config

    trainer = _hooked_trainer()(Config.from_yaml(run_dir / "config.yaml"))
    trainer.model.load_state_dict(load_checkpoint(run_dir / "best.pt")["model"])
    found = trainer.model.derived_config()
    save_model_config(found, run_dir / "found_model.yaml")
    return found


def run_suite(name: str, out_dir: str | Path, seeds: list[int] | None = None, log: Any = print) -> list[dict]:
    """Run (or resume) a suite under ``out_dir``; returns the per-run records."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; known: {sorted(SUITES)}")
    spec = sharing_suites()[name]
    base, out = spec["base"], Path(out_dir)
    records = []
    for seed in seeds or [0]:
        ref = _train(
            base, _model("single_task", base), out / "runs" / "single_task" / f"seed{seed}", seed, None
        )
        records.append(ref)
        baseline = str(Path(ref["dir"]) / "result.json") if ref["status"] == "ok" else None
        for entry in spec["architectures"]:
            model = _model(entry, base)
            run = _train(base, model, out / "runs" / model["name"] / f"seed{seed}", seed, baseline)
            records.append(run)
            log(f"{model['name']}: {run['status']} {run.get('wall_s', 0):.1f}s {run.get('error', '')}")
            if model["name"] in SEARCHES and run["status"] == "ok":
                found = _found(Path(run["dir"]))
                again = _train(base, found, Path(run["dir"]) / "found", seed, baseline)
                again["model"] = f"{model['name']}>found"
                again["found_model"] = found
                records.append(again)
                what = found["kwargs"].get("branches", found["kwargs"].get("policy"))
                log(f"  found {found['name']} {what}")
    return records


def main(argv: list[str] | None = None) -> int:
    from multitask.bench.report import write_report

    parser = argparse.ArgumentParser(description="learned-sharing benchmark suites")
    parser.add_argument("--suite", default="sharing", choices=sorted(SUITES))
    parser.add_argument("--out", default=None, help="output folder (default: bench_out/<suite>)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args(argv)
    out = Path(args.out or f"bench_out/{args.suite}")
    t0 = time.perf_counter()
    records = run_suite(args.suite, out, args.seeds)
    print(write_report(records, out, title=f"{args.suite}: test metrics; Δm vs single-task"))
    for r in records:
        if "wall_s" in r:
            print(f"{r['model']}: wall {r['wall_s']:.1f} s, params {r.get('params')}")
    print(f"suite wall time: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
