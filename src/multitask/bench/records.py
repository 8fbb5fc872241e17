"""A grid's run records, written while it runs and read back from its folder.

``run_grid`` writes ``<out>/grid.json`` (the manifest: every run's folder, architecture, method label
and name, seed, in grid order, and the report's title) before anything trains. :func:`load_records`
rebuilds the records that ``run_grid`` returns from the run folders alone: ``result.json`` is a
finished run, ``error.json`` a failed one, neither an unfinished one (recorded as failed, saying so).
Without a manifest (a grid written by an older version) the folders under ``<out>/runs`` are scanned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multitask.train.logging import write_json

MANIFEST = "grid.json"


def grid_title(grid: Any) -> str:
    """The report's title of a :class:`~multitask.bench.runner.Grid`: dataset, seeds, Δm reference."""
    n = len(grid.seeds)
    return (f"{grid.base.get('data', {}).get('name', 'multimnist')} — test metrics, mean ± std over {n} "
            f"seed{'s' if n != 1 else ''}; Δm vs single-task baseline")  # fmt: skip


def write_manifest(out_dir: Path, runs: list[Any], title: str) -> None:
    """``runs``: the grid's :class:`~multitask.bench.runner.RunSpec` s in grid order."""
    entries = [
        {
            "dir": s.run_dir.relative_to(out_dir).as_posix(),
            "model": s.model,
            "method": s.label,
            "method_name": s.config["method"]["name"],
            "seed": s.seed,
            "dataset": s.config.get("data", {}).get("name"),
        }
        for s in runs
    ]
    write_json(out_dir / MANIFEST, {"title": title, "runs": entries})


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not readable JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_records(out_dir: str | Path) -> tuple[list[dict[str, Any]], str]:
    """``(records, title)`` of the grid in ``out_dir``, from its files (nothing is trained)."""
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"grid folder not found: {out}")
    manifest = out / MANIFEST
    if manifest.is_file():
        data = read_json(manifest)
        entries, title = data.get("runs", []), str(data.get("title") or "")
    else:
        entries, title = _scan(out), ""
    if not entries:
        raise ValueError(f"{out}: no runs found (expected {MANIFEST} or run folders under {out / 'runs'})")
    return [_load(out, e) for e in entries], title


def _scan(out: Path) -> list[dict[str, Any]]:
    """Manifest entries from ``runs/<model>/<label...>/seed<k>/`` folders holding a result or an error."""
    found: dict[Path, dict[str, Any]] = {}
    for path in sorted((out / "runs").rglob("*.json")):
        rel = path.parent.relative_to(out / "runs").parts
        if path.name not in ("result.json", "error.json") or len(rel) < 3 or not rel[-1].startswith("seed"):
            continue
        seed = rel[-1][len("seed") :]
        if not seed.lstrip("-").isdigit():
            continue
        found[path.parent] = {"dir": path.parent.relative_to(out).as_posix(), "model": rel[0],
                              "method": "/".join(rel[1:-1]), "seed": int(seed)}  # fmt: skip
    baseline_first = sorted(found.values(), key=lambda e: (e["model"] != "single_task", e["seed"]))
    return baseline_first


def _load(out: Path, entry: dict[str, Any]) -> dict[str, Any]:
    run_dir = out / entry["dir"]
    name = entry.get("method_name") or entry["method"]
    if (run_dir / "result.json").is_file():
        result = read_json(run_dir / "result.json")
        return {"status": "ok", "dir": str(run_dir), **result, "method": entry["method"],
                "method_name": result.get("method", name)}  # fmt: skip
    if (run_dir / "error.json").is_file():
        error = str(read_json(run_dir / "error.json").get("error", "failed"))
    else:
        error = "unfinished: no result.json (run the grid again to resume it)"
    return {"status": "failed", "dir": str(run_dir), "dataset": entry.get("dataset"),
            "model": entry["model"], "method": entry["method"], "method_name": name, "seed": entry["seed"],
            "error": error}  # fmt: skip
