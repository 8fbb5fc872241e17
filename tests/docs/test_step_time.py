"""The method table's step-time column: read from ``docs/data/step_time.csv``, refused when malformed."""

import html
import importlib.util
import re
from pathlib import Path

import pytest

import multitask as mt
from multitask.methods import METHODS

ROOT = Path(__file__).resolve().parents[2]
HEAD = (
    "# command: python benchmarks/step_time.py --csv x.csv\n"
    "# machine: test CPU\n"
    "method,mode,tasks,ratio,ew_ms\n"
)


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks_step_time", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cells(table: str) -> dict[str, list[str]]:
    out = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        out[cells[0].strip("`")] = cells
    return out


def _write(tmp_path: Path, body: str, head: str = HEAD) -> Path:
    path = tmp_path / "step_time.csv"
    path.write_text(head + body, encoding="utf-8")
    return path


def test_the_csv_values_reach_the_table(tmp_path):
    hooks = _hooks()
    body = (
        "ew,loss,2,1.013,20.0\newl,loss,10,0.5,20\n"  # 'ewl' is not a method: refused below
    )
    with pytest.raises(ValueError, match=r"step_time\.csv:5: method 'ewl' is not registered"):
        hooks.read_step_times(_write(tmp_path, body), known=set(mt.list_methods()))
    body = (
        "ew,loss,2,1.013,20.0\nmgda,parameters,2,1.456,20\nmgda,parameters,10,3.21,25\n"
        "mgda,features,2,1.1,20\nrotograd,features,10,2.5,25\nnaive-loop,parameters,2,1.9,20\n"
    )
    times = hooks.read_step_times(_write(tmp_path, body), known=set(mt.list_methods()))
    assert times.tasks == [2, 10] and times.meta["machine"] == "test CPU"
    rows = _cells(hooks.methods_table(times))
    header = hooks.methods_table(times).splitlines()[0]
    assert "step time ÷ EW (T = 2 · 10)" in header
    column = header.strip("|").split(" | ").index("step time ÷ EW (T = 2 · 10)")
    assert rows["ew"][column] == "1.01 · —"
    assert rows["mgda"][column] == "1.46 · 3.21"  # parameters mode preferred
    assert rows["rotograd"][column] == "— · 2.50 (features)"  # features-only method
    assert rows["cagrad"][column] == "—"  # not in the CSV: no number made up
    source = hooks.step_time_source(times)
    assert "`python benchmarks/step_time.py --csv x.csv`" in source and "test CPU" in source
    assert "`naive-loop` 1.90 · —" in source


@pytest.mark.parametrize(
    ("head", "body", "message"),
    [
        (HEAD.replace("ew_ms", "ms"), "", r":3: header must be method,mode,tasks,ratio,ew_ms"),
        ("# machine: x\nmethod,mode,tasks,ratio,ew_ms\n", "", r"no '# command: \.\.\.' comment"),
        (HEAD, "ew,loss,2,1.0\n", r":4: expected 5 fields"),
        (HEAD, "ew,weights,2,1.0,3\n", r":4: mode must be parameters, features or loss"),
        (HEAD, "ew,loss,two,1.0,3\n", r":4: tasks, ratio and ew_ms must be numbers"),
        (HEAD, "ew,loss,2,nan,3\n", r":4: need tasks >= 1 and finite positive ratio"),
        (HEAD, "ew,loss,2,-1,3\n", r":4: need tasks >= 1 and finite positive ratio"),
        (HEAD, "ew,loss,2,1,3\new,loss,2,1.1,3\n", r":5: a second row for ew / loss / T=2"),
    ],
)
def test_a_malformed_csv_is_refused_naming_file_and_line(tmp_path, head, body, message):
    path = _write(tmp_path, body, head)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + message):
        _hooks().read_step_times(path, known=set(mt.list_methods()))
    with pytest.raises(ValueError, match="is missing; regenerate it with: python benchmarks/step_time.py"):
        _hooks().read_step_times(tmp_path / "absent.csv")


def test_the_committed_csv_is_valid_and_on_the_site(site):
    hooks = _hooks()
    times = hooks.read_step_times(known=set(mt.list_methods()))
    assert times.tasks, "docs/data/step_time.csv holds no measurement"
    assert {"command", "machine", "date"} <= set(times.meta)
    page = (site / "methods" / "index.html").read_text(encoding="utf-8")
    assert html.escape(times.meta["command"], quote=False) in page
    header = re.search(r"<th>step time ÷ EW \(T = ([0-9 ·]+)\)</th>", page)
    assert header and header.group(1) == " · ".join(map(str, times.tasks))
    cells = {
        name: re.findall(r"<td>(.*?)</td>", row)
        for name, row in re.findall(r"<tr>\s*<td><code>([a-z_0-9]+)</code></td>(.*?)</tr>", page, flags=re.S)
    }
    assert sorted(cells) == mt.list_methods()
    measured = {name for name, _, _ in times.ratios} & set(mt.list_methods())
    assert measured, "no registered method in the CSV"
    for name in mt.list_methods():
        cell = cells[name][4]  # after class, kind, modes, cost class
        if name not in measured:
            assert cell == "—", (name, cell)
            continue
        mode = "loss" if METHODS.get(name).kind == "loss" else "parameters"
        if (name, mode, times.tasks[0]) not in times.ratios and mode == "parameters":
            mode = "features"
        expected = times.ratios.get((name, mode, times.tasks[0]))
        if expected is not None:
            assert cell.startswith(f"{expected:.2f}"), (name, cell, expected)
