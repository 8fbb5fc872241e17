"""The benchmark grid: {dataset} x {architectures} x {methods} x {seeds}, plus the single-task baseline.

Each run trains with :class:`~multitask.train.trainer.Trainer` into
``<out>/runs/<arch>/<method>/seed<k>/`` and leaves a ``result.json``; a run that has one is skipped, a
run with only a checkpoint resumes, so an interrupted grid continues where it stopped. The
single-task baseline (architecture ``single_task`` with equal weighting) is run first for every seed:
its validation results drive the model selection (validation Δm) of the other runs, and its test
results are the reference for the Δm columns of the report. A run that fails leaves ``error.json``
with the message, and the report shows it.
"""

from __future__ import annotations

import copy
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import multitask as mt
from multitask.train.config import Config
from multitask.train.logging import write_json
from multitask.train.trainer import Trainer

BASELINE = ("single_task", "ew")


@dataclass
class Grid:
    """A benchmark grid. ``base`` is a config dict (data/optim/train settings) shared by every run;
    ``architectures`` entries are model names or ``{"name": ..., "backbone": ..., "kwargs": {...}}``."""

    base: dict[str, Any]
    architectures: list[Any]
    methods: list[str]
    seeds: list[int] = field(default_factory=lambda: [0])
    method_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    mode: str = "parameters"
    baseline_backbone: str | None = None


SUITES: dict[str, dict[str, Any]] = {
    "default": {
        "base": {
            "data": {"name": "multimnist", "batch_size": 128, "eval_batch_size": 1000},
            "model": {"backbone": "lenet"},
            "optim": {"name": "adam", "lr": 1e-3},
            "train": {"epochs": 4},
        },
        "architectures": ["hps"],
        "methods": ["ew", "uw", "dwa", "gradnorm", "mgda", "pcgrad", "cagrad", "imtl_g"],
    },
    "dense": {
        "base": {
            "data": {
                "name": "shapes",
                "batch_size": 16,
                "eval_batch_size": 100,
                "kwargs": {"size": 32},
                "split_kwargs": {"train": {"n": 400}, "val": {"n": 100}, "test": {"n": 100}},
            },
            "model": {"backbone": "unet", "kwargs": {"backbone_kwargs": {"width": 8}}},
            "optim": {"name": "adam", "lr": 3e-3},
            "train": {"epochs": 3},
        },
        "architectures": ["hps", "mtan", "cross_stitch"],
        "methods": ["ew", "uw", "dwa", "mgda", "pcgrad", "cagrad", "imtl_g"],
        "all_methods": False,  # dense training on a CPU: the listed methods only (--methods for more)
    },
}


def suite_grid(
    name: str, *, methods: list[str] | None = None, all_methods: bool = True, seeds: list[int] | None = None
) -> Grid:
    """A named suite. With ``all_methods`` every other registered method is appended."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; known: {sorted(SUITES)}")
    spec = copy.deepcopy(SUITES[name])
    chosen = list(methods) if methods else list(spec["methods"])
    # append every registered method that runs in parameters mode (the suites run in it)
    if all_methods and spec.get("all_methods", True) and not methods:
        chosen += [
            m
            for m in mt.list_methods()
            if m not in chosen and getattr(mt.methods.METHODS.get(m), "supports_parameters", True)
        ]
    return Grid(
        base=spec["base"], architectures=spec["architectures"], methods=chosen, seeds=list(seeds or [0])
    )


def _arch(entry: Any, base: dict[str, Any]) -> dict[str, Any]:
    model = copy.deepcopy(base.get("model", {}))
    if isinstance(entry, str):
        model["name"] = entry
    else:
        model.update(copy.deepcopy(entry))
    return model


def run_grid(grid: Grid, out_dir: str | Path, *, progress: bool = False, log=print) -> list[dict[str, Any]]:
    """Run (or resume) every run of ``grid`` under ``out_dir``; returns the per-run records."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for seed in grid.seeds:
        base_model = _arch(BASELINE[0], grid.base)
        if grid.baseline_backbone:
            base_model["backbone"] = grid.baseline_backbone
        baseline = _run_one(grid, out, base_model, BASELINE[1], {}, seed, None, progress, log)
        records.append(baseline)
        baseline_file = out / "runs" / BASELINE[0] / BASELINE[1] / f"seed{seed}" / "result.json"
        reference = str(baseline_file) if baseline.get("status") == "ok" else None
        for entry in grid.architectures:
            model = _arch(entry, grid.base)
            for method in grid.methods:
                kwargs = dict(grid.method_kwargs.get(method, {}))
                records.append(_run_one(grid, out, model, method, kwargs, seed, reference, progress, log))
    return records


def _run_one(
    grid: Grid,
    out: Path,
    model: dict[str, Any],
    method: str,
    method_kwargs: dict[str, Any],
    seed: int,
    reference: str | None,
    progress: bool,
    log,
) -> dict[str, Any]:
    run_dir = out / "runs" / model["name"] / method / f"seed{seed}"
    label = f"{model['name']}/{method}/seed{seed}"
    done = run_dir / "result.json"
    if done.is_file():
        log(f"[skip] {label}: finished earlier")
        return {"status": "ok", "dir": str(run_dir), **json.loads(done.read_text(encoding="utf-8"))}
    cfg_dict = copy.deepcopy(grid.base)
    cfg_dict["model"] = model
    cfg_dict["method"] = {
        "name": method,
        "kwargs": method_kwargs,
        "mode": grid.mode,
    }
    train = cfg_dict.setdefault("train", {})
    train.update({"seed": seed, "out_dir": str(run_dir), "progress": progress, "baseline": reference})
    t0 = time.perf_counter()
    try:
        cfg = Config.from_dict(cfg_dict)
        result = Trainer(cfg).fit(resume=True)
    except Exception as err:  # one failing method must not lose the grid
        write_json(
            run_dir / "error.json",
            {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()},
        )
        log(f"[fail] {label}: {type(err).__name__}: {err}")
        return {
            "status": "failed",
            "dir": str(run_dir),
            "dataset": grid.base.get("data", {}).get("name"),
            "model": model["name"],
            "method": method,
            "seed": seed,
            "error": f"{type(err).__name__}: {err}",
        }
    (run_dir / "error.json").unlink(missing_ok=True)
    log(f"[done] {label}: {time.perf_counter() - t0:.1f}s, val Δm {result['val_delta_m']:+.2f}%")
    return {"status": "ok", "dir": str(run_dir), **result}
