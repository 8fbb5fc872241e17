import os
import shutil

import pytest
from tests.bench._tiny import tiny_grid

from multitask.bench.runner import run_grid


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MULTITASK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def _finished_tiny_grid(tmp_path_factory):
    """The tiny grid trained once, serially with one thread per run: ``(folder, records)``."""
    out = tmp_path_factory.mktemp("tiny_grid")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MULTITASK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        records = run_grid(tiny_grid(), out, jobs=1, log=lambda m: None)
    assert all(r["status"] == "ok" for r in records)
    return out, records


@pytest.fixture
def finished_tiny_grid(_finished_tiny_grid, tmp_path):
    """A private copy of the finished tiny grid (its records point into the copy)."""
    src, records = _finished_tiny_grid
    dst = tmp_path / "grid"
    shutil.copytree(src, dst)
    moved = [{**r, "dir": r["dir"].replace(str(src), str(dst), 1)} for r in records]
    assert all(os.path.isdir(r["dir"]) for r in moved)
    return dst, moved
