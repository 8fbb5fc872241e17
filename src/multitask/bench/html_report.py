"""A grid's results as one self-contained HTML page: ``<out>/report.html``.

Opens without a network: no external file, font, script or style sheet; the figures are PNGs embedded
as base64 ``data:`` URIs and the table sorts with a few lines of inline JavaScript (click a header).
The table holds what ``results.md`` holds (mean ± sample std over seeds per test metric, Δm in both
named conventions, step time, parameters; the best value per column bold, ↑ / ↓ saying which way is
better) and marks with † a value that differs from EW of the same architecture (paired t-test over seeds,
:mod:`multitask.bench.significance`; the p-value shows on hover). Below it: the notes (failed seeds, two
names for one run) and every figure of :func:`multitask.bench.plots.make_plots`.

:func:`build_report` writes everything (CSV, Markdown, plots, HTML) from a grid's records;
``multitask report DIR`` calls it on a finished grid's folder without training.
"""

from __future__ import annotations

import base64
import datetime
import html
import math
from pathlib import Path
from typing import Any

from multitask.bench import significance
from multitask.bench.report import _best, _columns, significant, summarize, write_report
from multitask.bench.runner import BASELINE
from multitask.train.config import atomic_write_text

#: figure file prefix -> (order, caption)
FIGURES = {
    "delta_m": (0, "Δm ranking: each architecture · method against the single-task baseline, mean ± std"),
    "metric_bars": (1, "Main test metric per task and method, mean ± std, best on top; dashed: single-task"),
    "pareto": (2, "Pareto front of the two tasks' main test metrics (zoomed; non-dominated in red)"),
    "val_curves": (3, "Validation curves of each task's main metric (mean over seeds)"),
    "weights": (4, "Task weights over training (first seed; methods with constant weights left out)"),
    "cosines": (5, "Mean task-gradient cosine matrices over training"),
    "step_time": (6, "Training-step time per method, mean ± std over seeds"),
}

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;max-width:1400px;
padding:0 1em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
.meta,.legend li,figcaption{color:#555;font-size:.92em}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.86em;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}
th{background:#f3f3f3;cursor:pointer;user-select:none;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td.text,th.text{text-align:left}td.best{font-weight:700;background:#eef7ee}
tr.baseline td{background:#f7f7fb}tr.failed td{color:#a00}
sup.sig{color:#b35900;font-weight:700}
figure{margin:1.2em 0;border-top:1px solid #eee;padding-top:.8em}figure img{max-width:100%;height:auto}
"""

_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var asc = th.getAttribute("aria-sort") !== "ascending", text = th.classList.contains("text");
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", asc ? "ascending" : "descending");
      var key = function (row) {
        var v = row.cells[col] ? row.cells[col].getAttribute("data-v") : null;
        return v === null || v === "" ? null : (text ? v : parseFloat(v));
      };
      var body = table.tBodies[0];
      Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

_NAMES = {
    "delta_m_V": "Δm_V %", "delta_m_N": "Δm_N %", "step_ms": "step ms", "params": "params", "macs": "MACs",
    "search_s": "search s", "train_s": "train s",
}  # fmt: skip


def build_report(records: list[dict[str, Any]], out_dir: str | Path, title: str = "") -> dict[str, Any]:
    """Write ``results.csv``, ``results.md``, the plots and ``report.html`` into ``out_dir``; returns
    ``{"markdown": ..., "plots": [...], "html": path}``."""
    from multitask.bench.plots import make_plots

    out = Path(out_dir)
    md = write_report(records, out, title=title)
    plots = make_plots(records, out)
    page = write_html(records, out, plots, title=title)
    return {"markdown": md, "plots": plots, "html": page}


def write_html(
    records: list[dict[str, Any]], out_dir: str | Path, figures: list[Path], title: str = ""
) -> Path:
    """Write ``report.html`` (table of :func:`summarize`'s rows, ``figures`` embedded); returns its path."""
    out = Path(out_dir)
    rows = summarize(records)
    title = title or "benchmark grid"
    failed = sum(r.get("status") != "ok" for r in records)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    seeds = sorted({r["seed"] for r in records if "seed" in r})
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{len(records)} runs ({failed} failed or unfinished), seeds {_e(seeds)}; '
        f"written {stamp} from the runs in <code>{_e(out.resolve())}</code> "
        "(<code>multitask report DIR</code> writes it again).</p>",
        "<h2>Results (test split)</h2>",
        _legend(rows),
        _table(rows),
        _notes(rows),
        "<h2>Figures</h2>",
        *(_figure(p) for p in sorted(figures, key=_figure_order)),
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ]
    path = out / "report.html"
    atomic_write_text(path, "\n".join(parts) + "\n")
    return path


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _legend(rows: list[dict[str, Any]]) -> str:
    items = [
        "Each cell: mean ± sample standard deviation over the seeds that finished (<i>seeds</i> column); "
        "click a column header to sort.",
        "<b>Bold</b> (green): the best value of its column; ↑ higher is better, ↓ lower is better.",
        "<b>Δm_V</b> (Maninis/Vandenhende): mean over tasks of the signed relative change of the task's "
        "main metric against the single-task baseline of the same seed, in %, <b>higher is better</b>.",
        "<b>Δm_N</b> (Nash-MTL / LibMTL): mean over all metrics of the relative change, signed so that "
        "<b>lower is better</b>.",
        f"<sup class=sig>{significance.MARK}</sup> differs from EW of the same architecture: "
        f"{_e(significance.TEST)}. Hover a mark for its p-value.",
    ]
    return '<ul class="legend">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _table(rows: list[dict[str, Any]]) -> str:
    cols = _columns(rows)
    best = {c: _best(rows, c, h) for c, h in cols}
    head = ['<th class="text">arch</th>', '<th class="text">method</th>', "<th>seeds</th>"]
    for c, h in cols:
        arrow = "" if c in ("params", "macs") else (" ↑" if h else " ↓")
        head.append(f"<th>{_e(_NAMES.get(c, c) + arrow)}</th>")
    body = []
    for row in rows:
        kind = "failed" if "error" in row else ""
        kind = "baseline" if (row["model"], row["method"]) == BASELINE else kind
        cells = [f'<td class="text" data-v="{_e(row["model"])}">{_e(row["model"])}</td>',
                 f'<td class="text" data-v="{_e(row["method"])}">{_e(row["method"])}</td>',
                 f'<td data-v="{row["seeds"]}">{row["seeds"]}</td>']  # fmt: skip
        if "error" in row:
            cells.append(f'<td class="text" colspan="{len(cols)}">failed: {_e(row["error"][:200])}</td>')
        else:
            cells += [_cell(row, c, best[c]) for c, _ in cols]
        body.append(f'<tr class="{kind}">' + "".join(cells) + "</tr>")
    return (
        '<table class="sortable" id="results"><thead><tr>' + "".join(head) + "</tr></thead><tbody>"
        + "\n".join(body) + "</tbody></table>"
    )  # fmt: skip


def _cell(row: dict[str, Any], col: str, best: float | None) -> str:
    value = row.get(col)
    if value is None:
        return '<td data-v="">—</td>'
    if col in ("params", "macs"):
        mean, text = float(value), f"{int(value):,}"
    else:
        mean, std = value
        digits = 2 if col.startswith("delta") or col == "step_ms" else 1 if col.endswith("_s") else 4
        text = f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")
    is_best = best is not None and math.isclose(mean, best, rel_tol=0, abs_tol=1e-12)
    mark = ""
    if significant(row, col):
        p = row["_p"][col]
        mark = f'<sup class="sig" title="paired t-test vs EW: p = {p:.3g}">{significance.MARK}</sup>'
    return f'<td data-v="{mean!r}"{" class=best" if is_best else ""}>{_e(text)}{mark}</td>'


def _notes(rows: list[dict[str, Any]]) -> str:
    notes = sorted({f"{row['model']}/{row['method']}: {n}" for row in rows for n in row.get("notes", [])})
    if not notes:
        return ""
    return "<h2>Notes</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"


def _figure_order(path: Path) -> tuple[int, str]:
    stem = path.stem
    for prefix, (order, _) in FIGURES.items():
        if stem == prefix or stem.startswith(prefix + "_"):
            return order, stem
    return len(FIGURES), stem


def _figure(path: Path) -> str:
    stem = path.stem
    caption = next((cap + (f" — {stem[len(p) + 1:]}" if stem != p else "") for p, (_, cap) in FIGURES.items()
                    if stem == p or stem.startswith(p + "_")), stem)  # fmt: skip
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure id="fig-{_e(stem)}"><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)} <small>({_e(path.name)})</small></figcaption></figure>"
    )

