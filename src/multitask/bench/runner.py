"""The benchmark grid: {dataset} x {architectures} x {methods} x {seeds}, plus the single-task baseline.

Each run trains with :class:`~multitask.train.trainer.Trainer` into
``<out>/runs/<arch>/<method>/seed<k>/`` and leaves a ``result.json``; a run that has one is skipped, a
run with only a checkpoint resumes, so an interrupted grid continues where it stopped. The
single-task baseline (architecture ``single_task`` with equal weighting) is run first for every seed:
its validation results drive the model selection (validation Δm) of that seed's other runs, and its
test results are the reference for the Δm columns of the report. A run that fails leaves ``error.json``
with the message, and the report shows it.

An architecture search (AdaShare, Learning to Branch, BMTAS: ``multitask.train.phases``) is one run of
the grid in two phases: the search in ``<run>/search/``, then its found network (saved as
``<run>/found_model.yaml`` and ``<run>/found_config.yaml``, a config to train again) trained from scratch
in ``<run>/final/``; the run's ``result.json`` has the final network's metrics and the cost of both
phases, which the report shows (``search s``, ``train s``, parameters and MACs of the final network).

Every name of a grid (dataset, architectures, backbones, methods and their keyword names) is checked
by :func:`check_grid` before any training starts; an unknown one is a ``ValueError`` that suggests the
closest registered names.

``jobs > 1`` runs independent runs in a pool of local processes (``spawn``), each run with
``threads_per_job`` torch threads (default 1, also when serial): the baselines of every seed are queued
first and a seed's other runs as soon as its baseline finished. A run's result does not depend on
``jobs``: it is seeded by its own seed, runs alone in its process and uses the same thread count
(a CPU run's floats do depend on the thread count).

``ray=ADDRESS`` (or ``"local"``: a new local Ray instance) submits each run as a Ray task instead
(:mod:`multitask.bench._ray`; ``pip install 'multitask[ray]'``), with the per-run resources of the base
config's ``resources`` section, ``{"cpus": c, "gpus": g}`` (default: ``threads_per_job`` CPUs; 1 GPU when
``train.device`` is ``cuda*``, else 0 and ``device: auto`` becomes ``cpu`` so that a run never uses a
GPU it did not reserve); a run uses ``max(1, int(c))`` torch threads. Same order (baselines first),
folders, resumption and failure records as the local runner; a run whose worker dies is retried
``ray_retries`` times, then recorded failed. On a cluster of several machines, ``out_dir`` must be a
path every node sees (a shared file system): the runs write there.

A method entry is a registered name (``"cagrad"``), a name with keyword arguments and that string as
its label (``"pmtl[preference_index=0]"``, values read as YAML), or a dict
``{"name": ..., "kwargs": {...}, "label": ...}``; the label names the run folder and the table row, so
one method can appear several times (e.g. Pareto MTL with several preferences).
"""

from __future__ import annotations

import copy
import difflib
import inspect
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from multitask.bench._pool import execute
from multitask.bench._ray import check_resources, check_timeout, require_ray, run_resources
from multitask.bench.records import grid_title, write_manifest
from multitask.bench.suites import (  # noqa: F401  (re-exported: the runner's public names)
    BASELINE,
    PMTL_SPREAD,
    SUITES,
    Grid,
    parse_method,
    suite_grid,
)
from multitask.methods import METHODS
from multitask.methods.base import runs_in_parameters_grid
from multitask.train.config import Config
from multitask.train.logging import write_json
from multitask.train.phases import fit_search, is_search


def _arch(entry: Any, base: dict[str, Any]) -> dict[str, Any]:
    model = copy.deepcopy(base.get("model", {}))
    if isinstance(entry, str):
        model["name"] = entry
    else:
        model.update(copy.deepcopy(entry))
    return model


@dataclass
class RunSpec:
    """One run of a grid: the config dict to train and where its folder is."""

    label: str
    model: str
    seed: int
    config: dict[str, Any]
    run_dir: Path
    resources: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.model}/{self.label}/seed{self.seed}"


def _method_kwargs(grid: Grid, label: str, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``grid.method_kwargs`` of the label (else of the name), updated with the entry's own kwargs."""
    return {**grid.method_kwargs.get(label, grid.method_kwargs.get(name, {})), **kwargs}


def _spec(
    grid: Grid, out: Path, model: dict[str, Any], entry: Any, seed: int, baseline: bool = False
) -> RunSpec:
    label, name, kwargs = parse_method(entry)
    kwargs = {} if baseline else _method_kwargs(grid, label, name, kwargs)
    cfg = copy.deepcopy(grid.base)
    resources = cfg.pop("resources", None) or {}
    cfg["model"] = model
    cfg["method"] = {"name": name, "kwargs": kwargs, "mode": grid.mode}
    run_dir = out / "runs" / model["name"] / label / f"seed{seed}"
    cfg.setdefault("train", {}).update({"seed": seed, "out_dir": str(run_dir)})
    cfg["train"].setdefault("tensorboard", False)  # a grid logs CSV; TensorBoard per run only on request
    return RunSpec(label, model["name"], seed, cfg, run_dir, dict(resources))


def plan(grid: Grid, out_dir: str | Path) -> tuple[list[RunSpec], list[RunSpec]]:
    """The grid's runs: (one single-task baseline per seed, the other runs in seed-major order)."""
    out = Path(out_dir)
    base_model = _arch(BASELINE[0], grid.base)
    if grid.baseline_backbone:
        base_model["backbone"] = grid.baseline_backbone
    baselines = [_spec(grid, out, base_model, BASELINE[1], seed, baseline=True) for seed in grid.seeds]
    others = [
        _spec(grid, out, _arch(arch, grid.base), entry, seed)
        for seed in grid.seeds
        for arch in grid.architectures
        for entry in grid.methods
    ]
    return baselines, others


def check_grid(grid: Grid, out_dir: str | Path = ".") -> None:
    """Raise one ``ValueError`` listing every bad name or config key of ``grid`` (nothing is trained)."""
    from multitask.data import DATASETS
    from multitask.models import MODELS
    from multitask.models.backbones import BACKBONES

    problems: list[str] = []

    def attempt(fn, *args) -> Any:
        try:
            return fn(*args)
        except (ValueError, TypeError) as err:
            if str(err) not in problems:
                problems.append(str(err))
            return None

    if not grid.seeds:
        problems.append("the grid has no seeds")
    if grid.mode not in ("parameters", "features"):
        problems.append(f"mode must be 'parameters' or 'features', got {grid.mode!r}")
    attempt(DATASETS.get, grid.base.get("data", {}).get("name", "multimnist"))
    attempt(check_resources, grid.base.get("resources"))
    labels: dict[str, str] = {}
    for entry in grid.methods:
        parsed = attempt(parse_method, entry)
        if parsed is None:
            continue
        label, name, kwargs = parsed
        if label in labels:
            problems.append(f"method label {label!r} appears twice in the grid")
        labels[label] = name
        cls = attempt(METHODS.get, name)
        if cls is None:
            continue
        if grid.mode == "parameters" and not runs_in_parameters_grid(cls):
            problems.append(f"method {name!r} does not run in parameters mode: {cls.parameters_error}")
        attempt(_check_kwargs, f"method {name!r}", cls, _method_kwargs(grid, label, name, kwargs))
    models = [_arch(a, grid.base) for a in [BASELINE[0], *grid.architectures]]
    if grid.baseline_backbone:
        models.append({"name": BASELINE[0], "backbone": grid.baseline_backbone})
    for model in models:
        attempt(MODELS.get, model.get("name"))
        if model.get("backbone"):
            attempt(BACKBONES.get, model["backbone"])
    if not problems:  # names are right: every run's config must load (keys, types)
        for spec in (s for group in plan(grid, out_dir) for s in group):
            attempt(Config.from_dict, spec.config)
    if problems:
        raise ValueError("bad benchmark grid (nothing was trained):\n  " + "\n  ".join(problems))


def _check_kwargs(what: str, cls: Any, kwargs: dict[str, Any]) -> None:
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [p for p in params if p != "self"]
    for key in kwargs:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=2)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            known = ", ".join(allowed) or "(none)"
            raise ValueError(f"{what} has no argument {key!r}; {hint}arguments: {known}")


def default_jobs() -> int:
    """Runs at once by default: 2, or 1 on a single-core machine."""
    import os

    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(2, available))


def run_grid(
    grid: Grid,
    out_dir: str | Path,
    *,
    jobs: int = 1,
    threads_per_job: int | None = 1,
    progress: bool = False,
    log=print,
    ray: str | None = None,
    ray_retries: int = 2,
    ray_timeout: float | None = None,
    title: str = "",
) -> list[dict[str, Any]]:
    """Run (or resume) every run of ``grid`` under ``out_dir``; returns the per-run records, the
    baselines first, then seed-major in grid order, whatever order they finished in.

    ``jobs``: local worker processes (1: in this process). ``threads_per_job``: torch threads per run
    (default 1; ``None``: torch's own setting). A CPU run's floats depend on its thread count, not on
    ``jobs``: with the same ``threads_per_job`` a grid gives bitwise the same runs serially and in a
    pool. ``progress`` shows a progress bar per run (``jobs = 1`` only). ``ray``: a Ray address or
    ``"local"`` (module docstring); ``jobs`` is then unused; ``ray_timeout``: seconds a Ray task may run
before it is cancelled and recorded failed (None: no limit). ``title`` goes into ``grid.json`` for the
    report (default :func:`grid_title`).
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    out = Path(out_dir)
    check_grid(grid, out)
    if ray is not None:
        require_ray()  # before anything is written
        check_timeout(ray_timeout)
    baselines, others = plan(grid, out)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, baselines + others, title or grid_title(grid))
    for spec in baselines + others:
        spec.config["train"]["progress"] = bool(progress and jobs == 1 and ray is None)
    baseline_file = {s.seed: s.run_dir / "result.json" for s in baselines}

    def followers(done: RunSpec, record: dict[str, Any]) -> list[RunSpec]:
        reference = str(baseline_file[done.seed]) if record.get("status") == "ok" else None
        runs = [s for s in others if s.seed == done.seed]
        for s in runs:
            s.config["train"]["baseline"] = reference
        return runs

    if all((s.run_dir / "result.json").is_file() for s in baselines + others):
        jobs, ray = 1, None  # everything finished earlier: no worker to start
    if ray is not None:
        from multitask.bench._ray import execute_ray

        records = execute_ray(
            baselines, followers, _run_one, address=None if ray in ("", "local") else ray, log=log,
            resources=lambda s: run_resources(s, threads_per_job), retries=ray_retries, failure=failure,
            done=lambda s: (s.run_dir / "result.json").is_file(), timeout_s=ray_timeout,
        )  # fmt: skip
    else:
        records = execute(
            baselines, followers, _run_one, jobs=jobs, threads=threads_per_job, log=log, failure=failure
        )
    order = {id(s): i for i, s in enumerate(baselines + others)}
    return [rec for spec, rec in sorted(records, key=lambda sr: order[id(sr[0])])]


def _record(spec: RunSpec, result: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok", "dir": str(spec.run_dir), **result, "method": spec.label,
            "method_name": result.get("method", spec.config["method"]["name"])}  # fmt: skip


def failure(spec: RunSpec, message: str, tb: str = "") -> dict[str, Any]:
    """The record of a failed run; leaves ``error.json`` in its folder."""
    write_json(spec.run_dir / "error.json", {"error": message, "traceback": tb})
    return {
        "status": "failed",
        "dir": str(spec.run_dir),
        "dataset": spec.config.get("data", {}).get("name"),
        "model": spec.model,
        "method": spec.label,
        "method_name": spec.config["method"]["name"],
        "seed": spec.seed,
        "error": message,
    }


def _run_one(spec: RunSpec) -> tuple[dict[str, Any], str]:
    """Train (or resume, or skip) one run; returns its record and a one-line log message."""
    from multitask.train.trainer import Trainer

    done = spec.run_dir / "result.json"
    if done.is_file():
        result = json.loads(done.read_text(encoding="utf-8"))
        return _record(spec, result), f"[skip] {spec.name}: finished earlier"
    t0 = time.perf_counter()
    try:
        if is_search(spec.config["model"]):  # search, then its found network (multitask.train.phases)
            result = fit_search(spec.config, spec.run_dir)
        else:
            result = Trainer(Config.from_dict(spec.config)).fit(resume=True)
    except Exception as err:  # one failing method must not lose the grid
        message = f"{type(err).__name__}: {err}"
        return failure(spec, message, traceback.format_exc()), f"[fail] {spec.name}: {message}"
    (spec.run_dir / "error.json").unlink(missing_ok=True)
    msg = f"[done] {spec.name}: {time.perf_counter() - t0:.1f}s, val Δm {result['val_delta_m']:+.2f}%"
    return _record(spec, result), msg
