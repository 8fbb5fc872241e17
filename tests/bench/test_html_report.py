"""The HTML report: significance against EW re-derived, self-contained, rendered by headless Chromium."""

import base64
import html
import json
import math
import os
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest
from scipy import stats

from multitask.bench import significance
from multitask.bench.html_report import build_report, write_html
from multitask.bench.report import markdown_table, summarize

HIB = {"a": {"acc": True}, "b": {"err": False}}


def _rec(model, method, seed, a, b):
    return {"status": "ok", "model": model, "method": method, "seed": seed, "params": 1, "step_time_ms": 1.0,
            "higher_is_better": HIB, "test": {"a": {"acc": a}, "b": {"err": b}}}  # fmt: skip


def _records():
    ew_a, ew_b = [0.50, 0.52, 0.48], [1.0, 1.1, 0.9]
    out = [_rec("single_task", "ew", s, 0.5, 1.0) for s in range(3)]
    out += [_rec("hps", "ew", s, ew_a[s], ew_b[s]) for s in range(3)]
    out += [_rec("hps", "good", s, ew_a[s] + d, ew_b[s]) for s, d in enumerate([0.05, 0.06, 0.055])]
    out += [_rec("hps", "noisy", s, ew_a[s] + d, ew_b[s]) for s, d in enumerate([0.05, -0.04, 0.01])]
    return out


def test_significance_is_a_paired_t_test_against_ew_of_the_same_architecture(tmp_path):
    rows = {r["method"]: r for r in summarize(_records()) if r["model"] == "hps"}
    for method, diffs in (("good", [0.05, 0.06, 0.055]), ("noisy", [0.05, -0.04, 0.01])):
        d = np.array(diffs)  # re-derived: t = mean(d) / (s_d / sqrt(n)), two-sided, n - 1 dof
        t = d.mean() / (d.std(ddof=1) / math.sqrt(3))
        assert math.isclose(rows[method]["_p"]["a/acc"], 2 * stats.t.sf(abs(t), 2), rel_tol=1e-9)
        assert rows[method]["_p"]["b/err"] == 1.0  # equal to EW on every seed
    assert rows["good"]["_p"]["a/acc"] < significance.ALPHA < rows["noisy"]["_p"]["a/acc"]
    assert "_p" not in rows["ew"]
    assert significance.paired_p({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.5}) is None  # constant shift: t undefined
    assert significance.paired_p({0: 1.0}, {0: 0.5}) is None  # one pair

    md = markdown_table(summarize(_records()))
    lines = {line.split("|")[2].strip(): line for line in md.splitlines() if line.startswith("| hps")}
    assert lines["good"].count(significance.MARK) == 3  # a/acc, Δm_V and Δm_N; not b/err (= EW)
    assert significance.MARK not in lines["noisy"] and significance.MARK not in lines["ew"]
    assert significance.DESCRIPTION in md

    page = write_html(_records(), tmp_path, []).read_text(encoding="utf-8")
    good = re.search(r"<tr[^>]*><td[^>]*>hps</td><td[^>]*>good</td>.*?</tr>", page).group(0)
    assert good.count('class="sig"') == lines["good"].count(significance.MARK)
    assert "paired t-test" in page and "scipy.stats.ttest_rel" in page and "p &lt; 0.05" in page


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


PROBE = """<script>
window.addEventListener("load", function () {
  var table = document.getElementById("results"), heads = table.tHead.rows[0].cells, col = -1;
  for (var i = 0; i < heads.length; i++) { if (heads[i].textContent.indexOf("Δm_V") === 0) { col = i; } }
  var values = function () {
    return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return parseFloat(r.cells[col].getAttribute("data-v")); });
  };
  heads[col].click(); var up = values(); heads[col].click(); var down = values();
  var out = document.createElement("pre");
  out.id = "render-check";
  out.textContent = JSON.stringify({
    images: Array.prototype.map.call(document.images, function (im) {
      return [im.alt, im.complete, im.naturalWidth, im.naturalHeight]; }),
    rows: table.tBodies[0].rows.length, tableWidth: table.getBoundingClientRect().width, up: up, down: down});
  document.body.appendChild(out);
});
</script></body>"""


def _chromium(*args: str, profile) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}"]  # fmt: skip
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=180, check=True)


def test_report_is_self_contained_and_renders_in_headless_chromium(finished_tiny_grid, tmp_path):
    out, records = finished_tiny_grid
    written = build_report(records, out, title="tiny grid")
    page = written["html"].read_text(encoding="utf-8")
    names = {p.stem for p in written["plots"]}
    assert names == {"delta_m", "step_time", "metric_bars_hps", "pareto_hps", "val_curves_hps", "weights_hps",
                     "cosines_hps"}  # every kind of figure (MGDA logs weights and cosines)
    # no network: every src / href is an embedded data URI or in-page, no external style or script
    assert re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page) and all(
        u.startswith("data:image/png;base64,") or u.startswith("#")
        for u in re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page)
    )
    assert "<link" not in page and "@import" not in page and "url(" not in page
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert sorted(base64.b64decode(e) for e in embedded) == sorted(p.read_bytes() for p in written["plots"])
    assert "Δm_V" in page and "Δm_N" in page and "± " in page and "class=best" in page

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        if os.environ.get("MULTITASK_REQUIRE_BROWSER"):
            pytest.fail("MULTITASK_REQUIRE_BROWSER is set but no chromium is installed")
        pytest.skip("chromium is not installed (apt-get install chromium); CI sets MULTITASK_REQUIRE_BROWSER")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE), encoding="utf-8")
    dom = _chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri(), profile=tmp_path / "p1")
    dom = dom.stdout
    found = re.search(r'<pre id="render-check">(.*?)</pre>', dom, re.S)
    assert found, f"the page's script did not run: {dom[-500:]}"
    check = json.loads(html.unescape(found.group(1)))
    sizes = sorted(_png_size(p.read_bytes()) for p in written["plots"])
    assert len(check["images"]) == len(written["plots"])
    assert all(complete and w > 0 for _, complete, w, _ in check["images"])  # every figure decoded
    assert sorted((w, h) for _, _, w, h in check["images"]) == sizes  # at the PNGs' own sizes
    assert check["rows"] == len(summarize(records)) and check["tableWidth"] > 200
    assert check["up"] == sorted(check["up"]) and check["down"] == sorted(check["down"], reverse=True)

    shot = tmp_path / "report.png"  # the artefact: a screenshot of the table and the first figures
    _chromium(f"--screenshot={shot}", "--window-size=1280,2200", "--hide-scrollbars",
              written["html"].as_uri(), profile=tmp_path / "p2")  # fmt: skip
    assert _png_size(shot.read_bytes()) == (1280, 2200) and shot.stat().st_size > 20_000
