"""The two phases of an architecture search from one config: search, then train the found network.

A model whose class says it searches (``MultiTaskModel.searches(kwargs)``: AdaShare without a fixed
policy, Learning to Branch, BMTAS) runs, from one run config and into one run folder ``out``:

1. the search, a normal trainer run in ``out/search`` (the selected epoch's weights by validation Δm);
2. its found network, ``model.derived_config()`` of the search's selected weights, written as
   ``out/found_model.yaml`` (a ``model:`` section) and ``out/found_config.yaml`` (the whole run config of
   phase 2, ready for ``multitask train --config out/found_config.yaml --set train.out_dir=...``), trained
   from scratch with the same data, method, optimizer, epochs and seed in ``out/final``;
3. ``out/result.json``: phase 2's result (the run's metrics: the found network is the method's output),
   with ``model`` the search's name, ``found_model``, ``search_wall_time_s`` and
   ``phases = {"search": cost, "final": cost}``, each cost the phase's wall time, epochs, best epoch,
   validation Δm, parameters and multiply-accumulates per sample of its selected network (for the search:
   its supergraph in eval mode). ``params`` and ``macs`` are the final network's.

A phase with a ``result.json`` is not trained again; an interrupted one resumes from its checkpoint.
Sun et al. (AdaShare), Guo et al. (Learning to Branch) and Bruggemann et al. (BMTAS) all re-train the
found architecture from scratch in the same way.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from multitask.models import MODELS
from multitask.models.sharing import save_model_config
from multitask.train.checkpoint import load_checkpoint
from multitask.train.config import Config
from multitask.train.logging import write_json

__all__ = ["fit_search", "is_search"]

_COST = ("wall_time_s", "epochs", "best_epoch", "val_delta_m", "params", "macs")


def is_search(model: dict[str, Any]) -> bool:
    """Whether a ``model`` config section builds an architecture search (two phases)."""
    cls = MODELS.get(str(model.get("name", "hps")))
    searches = getattr(cls, "searches", None)
    return bool(searches(dict(model.get("kwargs") or {}))) if callable(searches) else False


def _phase(config: dict[str, Any], out: Path) -> dict[str, Any]:
    from multitask.train.trainer import Trainer

    done = out / "result.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    cfg = copy.deepcopy(config)
    cfg["train"]["out_dir"] = str(out)
    return Trainer(Config.from_dict(cfg)).fit(resume=True)


def _found(config: dict[str, Any], search_dir: Path) -> dict[str, Any]:
    """The found network of a finished search: ``derived_config()`` with its selected weights."""
    from multitask.train.trainer import Trainer

    cfg = copy.deepcopy(config)
    cfg["train"]["out_dir"] = str(search_dir)
    trainer = Trainer(Config.from_dict(cfg))
    trainer.model.load_state_dict(
        load_checkpoint(search_dir / "best.pt", map_location=trainer.device)["model"]
    )
    found = trainer.model.derived_config()
    if found is None:
        raise ValueError(f"model {config['model'].get('name')!r} searches but gives no derived_config()")
    return found


def fit_search(config: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Run both phases of the search in ``config`` (a run config dict) into ``out_dir``; returns the
    result written to ``out_dir/result.json`` (module docstring)."""
    out = Path(out_dir)
    config = Config.from_dict(config).to_dict()  # checked, defaults filled in
    search = _phase(config, out / "search")
    found = _found(config, out / "search")
    save_model_config(found, out / "found_model.yaml")
    final_cfg = copy.deepcopy(config)
    final_cfg["model"] = copy.deepcopy(found)
    final_cfg["train"]["out_dir"] = str(out / "final")
    Config.from_dict(final_cfg).to_yaml(out / "found_config.yaml")
    final = _phase(final_cfg, out / "final")
    result = {
        **final,
        "model": config["model"]["name"],
        "backbone": config["model"]["backbone"],
        "found_model": found,
        "search_wall_time_s": search["wall_time_s"],
        "total_wall_time_s": search["wall_time_s"] + final["wall_time_s"],
        "phases": {
            "search": {**{k: search.get(k) for k in _COST}, "dir": "search"},
            "final": {**{k: final.get(k) for k in _COST}, "dir": "final", "model": found["name"]},
        },
    }
    write_json(out / "result.json", result)
    return result
