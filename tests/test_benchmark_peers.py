"""``benchmarks/peers.py`` cannot rot: its ``--quick`` run works on our side alone (no peer installed is
needed), a missing peer is reported and skipped, and its measurement helpers do what they say."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("peers_bench", ROOT / "benchmarks" / "peers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    yield mod
    for name in ("_peers_impl", "_peers_diag"):
        sys.modules.pop(name, None)


def test_quick_run_ours_only_writes_json(peers, tmp_path, capsys):
    out = tmp_path / "peers.json"
    res = peers.main(["--quick", "--peers", "--methods", "ew", "upgrad", "--json", str(out)])
    text = capsys.readouterr().out
    assert "| upgrad | parameters | 2 |" in text and "| upgrad | features | 2 |" in text
    saved = json.loads(out.read_text())
    assert saved["results"] == json.loads(json.dumps(res["results"], default=float))
    cells = {(r["method"], r["mode"]): r for r in res["results"]}
    assert set(cells) == {("ew", "loss"), ("upgrad", "parameters"), ("upgrad", "features")}
    assert set(cells["upgrad", "parameters"]["times"]) == {"ew", "ours", "naive"}
    assert all(t > 0 for c in cells.values() for t in c["times"].values())
    assert not any(c["errors"] for c in cells.values())


def test_missing_peer_is_reported_and_the_rest_runs(peers, monkeypatch, capsys):
    monkeypatch.setattr(peers, "peer_status", lambda: {"torchjd": (False, "No module named 'torchjd'")})
    res = peers.main(["--quick", "--peers", "torchjd", "--methods", "mgda", "--modes", "parameters"])
    text = capsys.readouterr().out
    assert "torchjd: MISSING (No module named 'torchjd')" in text
    assert "/torchjd" not in text  # its column is dropped, not filled with errors
    assert set(res["results"][0]["times"]) == {"ew", "ours", "naive"}


def test_naive_loop_and_our_ew_agree_and_interleaving(peers):
    impl = sys.modules["_peers_impl"]
    ew = impl.SPECS[0]
    ours = impl.make_runner("ours", ew, "loss", 3, torch.device("cpu"))
    naive = impl.make_runner("naive", ew, "parameters", 3, torch.device("cpu"))
    # the naive loop averages the task gradients; EW (scale "sum") adds them: same direction
    assert peers.cosine(ours.first_update(), naive.first_update()) == pytest.approx(1.0, abs=1e-5)
    assert math.isnan(peers.cosine(None, torch.ones(2)))

    order: list[str] = []

    class Fake:
        def __init__(self, name):
            self.name = name

        def step(self):
            order.append(self.name)

    med = peers.interleaved_medians(
        {"a": Fake("a"), "b": Fake("b")}, steps=4, rounds=2, warmup=1, device=torch.device("cpu")
    )
    assert order == ["a", "b"] + ["a", "a", "b", "b"] * 2  # warm-up, then rounds of 2 steps each in turn
    assert set(med) == {"a", "b"} and all(v >= 0 for v in med.values())


def test_libmtl_loader_names_the_missing_package(peers, monkeypatch):
    impl = sys.modules["_peers_impl"]
    monkeypatch.delitem(sys.modules, "LibMTL", raising=False)
    monkeypatch.setattr(impl.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="LibMTL is not installed"):
        impl.load_libmtl("MGDA")


def test_mgda_check_and_profile_options(peers, capsys):
    d2, kkt = peers.mgda_optimality(3, ())["ours"]
    assert d2 > 0 and kkt == pytest.approx(1.0, abs=1e-6)  # ours is the min-norm point: min_t g_t·d = ‖d‖²
    peers.main(["--mgda-check", "3", "--peers"])
    assert "MGDA T=3 ours: |d|^2 = " in capsys.readouterr().out
    table = peers.profile_table("upgrad", "features", 2, "ours", torch.device("cpu"), steps=1)
    assert "Self CPU" in table and "convolution" in table


def test_count_host_syncs_counts_tensor_to_python_conversions(peers):
    before = {name: getattr(torch.Tensor, name) for name in peers._diag._SYNC_METHODS}
    ew = peers.count_host_syncs("ew", "loss", 2)
    upgrad = peers.count_host_syncs("upgrad", "features", 3)
    assert 0 < ew < upgrad  # the solver's active-set loop converts on top of the engine's checks
    assert all(getattr(torch.Tensor, name) is f for name, f in before.items())  # restored


def test_summary_ranges_and_medians(peers):
    results = [
        {"method": m, "mode": "parameters", "tasks": 2, "times": {"ours": o, "naive": 1.0, "torchjd": 2.0}}
        for m, o in (("a", 0.5), ("b", 1.0), ("c", 2.0))
    ]
    table = peers.summary(results)
    assert "| naive per-task loop, parameters mode (3) | 0.50–2.00 (1.00) |" in table
    assert "| torchjd autojac, parameters mode (3) | 0.25–1.00 (0.50) |" in table
    assert "LibMTL" not in table  # no row without data
