"""A grid's records read back from its folder, and `multitask report DIR` (nothing trained)."""

import dataclasses
import shutil
import sys

import pytest
from tests.bench._tiny import TINY_BASE, tiny_grid

from multitask.bench.records import grid_title, load_records
from multitask.bench.report import write_report
from multitask.bench.runner import check_grid
from multitask.cli import _parser, main


def _files(root):
    files = sorted(p for p in (root / "runs").rglob("*") if p.is_file())
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in files}


def test_report_command_rewrites_every_output_from_the_runs_without_training(
    finished_tiny_grid, tmp_path, monkeypatch, capsys
):
    out, records = finished_tiny_grid
    loaded, title = load_records(out)
    assert loaded == records and title == grid_title(tiny_grid())  # the run_grid records, in grid order
    expected = write_report(records, tmp_path / "expected", title=title)
    for name in ("results.md", "results.csv", "report.html", "plots"):
        shutil.rmtree(out / name) if (out / name).is_dir() else (out / name).unlink(missing_ok=True)
    before = _files(out)

    def no_training(*args, **kwargs):
        raise AssertionError("multitask report must not train")

    monkeypatch.setattr("multitask.train.trainer.Trainer.__init__", no_training)
    assert main(["report", str(out)]) == 0
    assert (out / "results.md").read_text(encoding="utf-8") == expected
    assert (out / "results.csv").read_text() == (tmp_path / "expected" / "results.csv").read_text()
    assert (out / "report.html").stat().st_size > 10_000 and len(list((out / "plots").glob("*.png"))) >= 6
    assert _files(out) == before  # no run was touched
    assert "nothing trained" in capsys.readouterr().out

    # an unfinished run (no result.json) is a failed seed in the table, not an error
    (out / "runs" / "hps" / "mgda" / "seed1" / "result.json").unlink()
    partial, _ = load_records(out)
    assert [r["status"] for r in partial].count("failed") == 1
    assert "seed 1 failed: unfinished" in write_report(partial, tmp_path / "partial")


def test_report_without_manifest_scans_the_run_folders(finished_tiny_grid, capsys):
    out, records = finished_tiny_grid
    (out / "grid.json").unlink()
    nested = out / "runs" / "hps" / "pmtl[0" / "5]"  # the folder of a label with a '/': pmtl[0/5]
    nested.parent.mkdir()
    (out / "runs" / "hps" / "mgda").rename(nested)
    loaded, title = load_records(out)
    assert title == "" and [r["model"] for r in loaded[:2]] == ["single_task"] * 2  # baselines first
    assert sorted({(r["model"], r["method"]) for r in loaded}) == [
        ("hps", "ew"), ("hps", "pmtl[0/5]"), ("single_task", "ew")
    ]  # fmt: skip
    assert main(["report", str(out)]) == 0 and "pmtl[0/5]" in (out / "results.md").read_text()


def test_report_errors_and_the_bench_ray_option(tmp_path, capsys, monkeypatch):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "grid folder not found" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "no runs found" in capsys.readouterr().err
    assert _parser().parse_args(["bench", "--ray"]).ray == "local"
    assert _parser().parse_args(["bench", "--ray", "10.0.0.1:6379", "--methods", "ew"]).ray == "10.0.0.1:6379"
    assert _parser().parse_args(["bench", "--ray", "--methods", "ew"]).ray == "local"
    assert _parser().parse_args(["bench"]).ray is None
    for resources, problem in (({"gpu": 1}, "resources.gpu: unknown key"), ({"cpus": 0}, "resources.cpus")):
        with pytest.raises(ValueError, match=problem):
            check_grid(dataclasses.replace(tiny_grid(), base={**TINY_BASE, "resources": resources}))

    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed: one line, nothing written
    assert main(["bench", "--methods", "ew", "--out", str(tmp_path / "g"), "--ray"]) == 2
    assert "pip install 'multitask[ray]'" in capsys.readouterr().err and not (tmp_path / "g").exists()
