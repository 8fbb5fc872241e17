"""The ``multitask`` command (also ``python -m multitask``).

``multitask train CONFIG.yaml [--set key=value ...] [--resume | --force] [--no-plots]``,
``multitask eval CHECKPOINT``, ``multitask list [methods|models|datasets]``,
``multitask bench [--suite default|dense|partial|domains|many] [--ray [ADDRESS]] ...``,
``multitask report DIR``,
``multitask affinity CONFIG.yaml --method tag|cosine|rsa`` (task affinity and groups).

Errors are one line on stderr (exit 2). Ctrl-C during ``train`` prints one line with the last checkpoint
and the exact command that resumes the run (exit 130).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import multitask as mt
from multitask.affinity import cli as affinity_cli


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="multitask", description="Multi-task learning for PyTorch.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train one configuration", description="Train one configuration.")
    t.add_argument("config", help="YAML config file (see multitask.train.config.Config)")
    t.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=5 (repeatable)",
    )
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run in train.out_dir")
    mode.add_argument("--force", action="store_true", help="replace the run in train.out_dir")
    t.add_argument("--no-plots", action="store_true", help="do not write the run's plots after training")
    t.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="train on N processes (data parallel, the update of one process on the whole batch): runs "
        "torchrun --standalone --nproc-per-node N -m multitask train ... (N GPUs on CUDA, else CPU/gloo)",
    )

    e = sub.add_parser("eval", help="evaluate a checkpoint", description="Evaluate a checkpoint.")
    e.add_argument("checkpoint", help="checkpoint.pt or best.pt of a run (its folder holds config.yaml)")
    e.add_argument("--split", default="test", choices=["train", "val", "test"])

    ls = sub.add_parser("list", help="list methods, models, datasets", description="List registry entries.")
    ls.add_argument("what", nargs="?", default="all", choices=["all", "methods", "models", "datasets"])

    b = sub.add_parser(
        "bench",
        help="run a benchmark grid",
        description=(
            "Run a benchmark grid (resumable) and print its table. With no arguments: MultiMNIST, hard "
            "parameter sharing, the single-task baseline and every registered method, 3 seeds."
        ),
    )
    b.add_argument(
        "--suite", default="default", help="default (MultiMNIST), dense (scenes), partial, domains, many"
    )
    b.add_argument("--methods", nargs="+", default=None, help="methods to run (default: all registered)")
    b.add_argument("--archs", nargs="+", default=None, help="architectures (default: the suite's)")
    b.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: the suite's, 0 1 2)")
    b.add_argument("--jobs", type=int, default=None, help="runs at once, one torch thread each (default 2)")
    b.add_argument("--out", default=None, help="output folder (default: bench_out/<suite>)")
    b.add_argument("--mode", default="parameters", choices=["parameters", "features"])
    b.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the suite's base config, e.g. --set train.epochs=1",
    )
    b.add_argument("--progress", action="store_true", help="show a progress bar per run")
    b.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run each grid cell as a Ray task, on the cluster at ADDRESS or a new local one "
        "(pip install 'multitask[ray]'; per-run resources: --set resources.cpus=N --set resources.gpus=M)",
    )
    b.add_argument("--ray-retries", type=int, default=2, help="retries of a run whose Ray worker dies")
    b.add_argument(
        "--ray-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="cancel a Ray run still running SECONDS after it started and record it failed "
        "(running the grid again resumes it from its last checkpoint; default: no limit)",
    )

    r = sub.add_parser(
        "report",
        help="write a grid's report again",
        description="Write results.csv, results.md, the plots and report.html of a grid folder from its "
        "runs' results (nothing is trained).",
    )
    r.add_argument("dir", help="the grid's output folder (what --out was for multitask bench)")
    r.add_argument("--title", default=None, help="the report's title (default: the grid's)")
    affinity_cli.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    try:
        commands = {"train": _train, "eval": _eval, "list": _list, "bench": _bench, "report": _report}
        commands["affinity"] = affinity_cli.run
        return commands[args.command](args)
    except (ValueError, TypeError, OSError, KeyError) as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__


def _train(args: argparse.Namespace) -> int:
    from multitask.distributed import shutdown
    from multitask.train import Config, Trainer

    if args.nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:  # the launcher; the ranks run the code below
        return _launch(args)
    notes: list[str] = []
    cfg = Config.from_yaml(args.config, args.overrides, notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    from multitask.train.phases import is_search

    if is_search(cfg.to_dict()["model"]):
        return _train_search(args, cfg)
    trainer, finished = None, False
    try:
        trainer = Trainer(cfg)  # builds and validates everything before the run directory is touched
        result = trainer.fit(resume=args.resume, force=args.force)
        finished = True
    except KeyboardInterrupt:
        print(_interrupted(args, cfg, trainer), file=sys.stderr)
        return 130
    finally:  # under torchrun: leave the process group before exiting (after an error, without a barrier)
        shutdown(wait=finished)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports and plots
        return 0
    print(json.dumps({k: result[k] for k in ("best_epoch", "val_delta_m", "test", "wall_time_s")}, indent=2))
    print(f"outputs in {cfg.train.out_dir}")
    if not args.no_plots:
        _plot_run(Path(cfg.train.out_dir))
    return 0


def _launch(args: argparse.Namespace) -> int:
    """``multitask train CFG --nproc N``: the same command on N processes under ``torchrun``."""
    argv = [a for a in args.argv if not a.startswith("--nproc")]
    if "--nproc" in args.argv:  # "--nproc N" as two words
        i = args.argv.index("--nproc")
        argv = args.argv[:i] + args.argv[i + 2 :]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    launcher.append(f"--nproc-per-node={args.nproc}")
    return subprocess.run([*launcher, "-m", "multitask", *argv], check=False).returncode


def _train_search(args: argparse.Namespace, cfg: Any) -> int:
    """An architecture search (AdaShare, Learning to Branch, BMTAS): the search, then its found network
    trained from scratch (:mod:`multitask.train.phases`), in one process, into ``train.out_dir``."""
    import shlex
    import shutil

    from multitask.train.phases import fit_search

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(
            f"model {cfg.model.name!r} searches an architecture: run it in one process (no --nproc)"
        )
    out = Path(cfg.train.out_dir)
    files = ("result.json", "found_config.yaml", "found_model.yaml", "search", "final")
    held = [n for n in files if (out / n).exists()]
    if held and not (args.resume or args.force):
        raise ValueError(
            f"run directory {out} already holds a search run ({', '.join(held)}); continue it with --resume, "
            "replace it with --force, or choose another train.out_dir"
        )
    if held and args.force:
        for name in held:
            shutil.rmtree(out / name) if (out / name).is_dir() else (out / name).unlink()
    try:
        result = fit_search(cfg.to_dict(), out)
    except KeyboardInterrupt:
        kept = [a for a in args.argv if a not in ("--resume", "--force")]
        program = "multitask" if Path(sys.argv[0]).name == "multitask" else f"{sys.executable} -m multitask"
        print(f"interrupted; each phase keeps its checkpoint in {out}/search or {out}/final. Resume with: "
              f"{program} {shlex.join([*kept, '--resume'])}", file=sys.stderr)  # fmt: skip
        return 130
    phases = result["phases"]
    summary = {k: result[k] for k in ("best_epoch", "val_delta_m", "test", "wall_time_s")}
    summary["search_wall_time_s"] = phases["search"]["wall_time_s"]
    summary["found_model"] = result["found_model"]
    print(json.dumps(summary, indent=2))
    print(f"outputs in {out} (search/, final/, found_config.yaml: the found network to train again)")
    if not args.no_plots:
        _plot_run(out / "final")
    return 0


def _interrupted(args: argparse.Namespace, cfg: Any, trainer: Any) -> str:
    """One line: where the last checkpoint is and the exact command that resumes the run."""
    import shlex

    kept = [a for a in args.argv if a not in ("--resume", "--force")]
    program = "multitask" if Path(sys.argv[0]).name == "multitask" else f"{sys.executable} -m multitask"
    command = f"{program} {shlex.join([*kept, '--resume'])}"
    last = trainer.last_checkpoint if trainer is not None else None
    if trainer is None or trainer.logger is None:
        again = f"{program} {shlex.join(args.argv)}"
        return f"interrupted before training started; nothing was written. Run again with: {again}"
    if last is None:
        where = f"no checkpoint was written yet in {cfg.train.out_dir} (the run starts over)"
    else:
        where = (
            f"last checkpoint: {Path(cfg.train.out_dir) / 'checkpoint.pt'} "
            f"(epoch {last['epoch']}, step {last['global_step']})"
        )
    return f"interrupted; {where}. Resume with: {command}"


def _plot_run(run_dir: Path) -> None:
    """The run's curves / weights / cosines plots (``multitask.bench.plots.plot_run``) in its folder."""
    from multitask.bench import plots

    plot_run = getattr(plots, "plot_run", None)  # provided by the bench layer; absent in older versions
    if plot_run is None:
        return
    try:
        paths = plot_run(run_dir)
    except Exception as err:  # the run is done and saved; a plotting problem must not fail the command
        print(f"note: the run's plots were not written: {_one_line(err)}", file=sys.stderr)
        return
    if paths:
        print(f"plots ({len(paths)}): {', '.join(str(p) for p in paths)}")


def _eval(args: argparse.Namespace) -> int:
    from multitask.train import Config, Trainer
    from multitask.train.checkpoint import load_checkpoint

    path = Path(args.checkpoint)
    state = load_checkpoint(path)
    cfg_path = path.parent / "config.yaml"
    cfg = Config.from_dict(state["config"]) if "config" in state else Config.from_yaml(cfg_path)
    cfg.train.tensorboard = False
    trainer = Trainer(cfg)  # builds the model and data; writes nothing
    trainer.model.load_state_dict(state["model"])
    metrics = trainer.evaluate(args.split)
    print(json.dumps({"checkpoint": str(path), "split": args.split, "metrics": metrics}, indent=2))
    return 0


def _list(args: argparse.Namespace) -> int:
    groups = {"methods": mt.list_methods, "models": mt.list_models, "datasets": mt.list_datasets}
    for name, fn in groups.items():
        if args.what in ("all", name):
            print(f"{name}: {', '.join(fn())}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from multitask.bench.records import grid_title
    from multitask.bench.runner import default_jobs, run_grid, suite_grid
    from multitask.train.config import apply_overrides

    if args.ray_timeout is not None and args.ray is None:
        raise ValueError("--ray-timeout applies to Ray runs: add --ray [ADDRESS]")
    grid = suite_grid(args.suite, methods=args.methods, seeds=args.seeds)
    if args.archs:
        grid.architectures = list(args.archs)
    grid.mode = args.mode
    grid.base = apply_overrides(grid.base, args.overrides)
    out = Path(args.out or f"bench_out/{args.suite}")
    t0 = time.perf_counter()
    title = grid_title(grid)
    records = run_grid(grid, out, progress=args.progress, jobs=args.jobs or default_jobs(), ray=args.ray,
                       ray_retries=args.ray_retries, ray_timeout=args.ray_timeout, title=title)  # fmt: skip
    wall = time.perf_counter() - t0
    _write_report(records, out, title, f"grid wall time: {wall:.0f} s; ")
    return 0


def _report(args: argparse.Namespace) -> int:
    from multitask.bench.records import load_records

    out = Path(args.dir)
    records, title = load_records(out)
    _write_report(records, out, args.title or title, f"{len(records)} runs read, nothing trained; ")
    return 0


def _write_report(records: list[dict[str, Any]], out: Path, title: str, prefix: str) -> None:
    from multitask.bench.html_report import build_report

    written = build_report(records, out, title=title)
    print(written["markdown"])
    print(
        "Δm_V: Maninis/Vandenhende (mean relative change of each task's main metric, higher is better); "
        "Δm_N: Nash-MTL (mean over all metrics, lower is better)."
    )
    print(
        f"{prefix}table: {out / 'results.md'}, {out / 'results.csv'}; plots ({len(written['plots'])}): "
        f"{out / 'plots'}; report: {written['html']}"
    )
