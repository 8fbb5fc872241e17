"""``benchmarks/gpu_check.py`` (the prepared GPU run of issue 16) runs end to end on a CPU with ``--quick``:
the CUDA-only sections say they are skipped, the others produce their tables, the report file is written."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_cpu_run_writes_the_report(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gpu_check_bench", ROOT / "benchmarks" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "gpu_check.txt"
    try:
        # the peers section is benchmarks/peers.py --quick, tested in test_benchmark_peers.py
        rc = mod.main(["--device", "cpu", "--quick", "--out", str(out), "--sections", *mod.SECTIONS[:-1]])
    finally:
        sys.modules.pop("step_time", None)
    text = out.read_text(encoding="utf-8")
    assert rc == 0 and "FAILED" not in text
    assert "device cpu" in text and "skipped on the CPU" in text
    assert "| 2 |" in text and "batched:all ÷ naive" in text  # the engine table, T = 2
    assert "max |grad difference| 0.00e+00" in text  # aot_eager equals eager
    assert not out.with_name(out.name + ".partial").exists()
    assert "## captured path" in capsys.readouterr().out
