"""MkDocs hook: expand the ``<!-- gen:... -->`` markers of the pages from the live registries.

The method table and the per-family API sections are written at build time from ``multitask``'s
registries, so a method, model or dataset added to the package appears on the site with no edit of
``docs/``, and a moved module (the identifiers come from ``cls.__module__``) cannot leave a dead entry.

Markers (each alone on its line):

* ``<!-- gen:methods-table -->``: every registered method with kind, modes, cost class, measured step time
  relative to EW (from ``docs/data/step_time.csv``, written by ``benchmarks/step_time.py --csv``), paper.
* ``<!-- gen:step-time-source -->``: where that step-time column comes from (the CSV's command and machine).
* ``<!-- gen:methods loss|gramian|jacobian -->``: a mkdocstrings entry per method of that cost class.
* ``<!-- gen:registry-table model|backbone|head|dataset -->``: name, class and summary of each entry.
* ``<!-- gen:registry model|backbone|head|dataset -->``: a mkdocstrings entry per registered entry.
* ``<!-- gen:all package.module -->``: a mkdocstrings entry per name of the module's ``__all__``, under its
  public path (so the page follows the curated API, not the private files behind it).
"""

from __future__ import annotations

import csv
import functools
import inspect
import math
import re
import sys
from pathlib import Path
from typing import Any

_MARKER = re.compile(r"^<!-- gen:([a-z-]+)(?: ([a-z_.]+))? -->$", re.M)
_SRC = Path(__file__).resolve().parents[1] / "src"


def _import_multitask() -> None:
    if str(_SRC) not in sys.path:
        sys.path.insert(0, str(_SRC))
    import multitask  # noqa: F401


def registry(kind: str) -> Any:
    """The registry behind a marker's argument."""
    _import_multitask()
    if kind == "method":
        from multitask.methods import METHODS

        return METHODS
    if kind == "model":
        from multitask.models import MODELS

        return MODELS
    if kind == "backbone":
        from multitask.models.backbones import BACKBONES

        return BACKBONES
    if kind == "head":
        from multitask.models.heads import HEADS

        return HEADS
    if kind == "dataset":
        from multitask.data import DATASETS

        return DATASETS
    raise ValueError(f"docs/hooks.py: unknown registry {kind!r} in a gen marker")


def identifier(obj: Any) -> str:
    """The dotted path mkdocstrings documents ``obj`` under (its defining module, so never stale)."""
    return f"{obj.__module__}.{obj.__qualname__}"


@functools.lru_cache(maxsize=1)
def _rst_to_markdown() -> Any:
    """``docs/griffe_rst.py``'s converter (loaded by path: MkDocs loads this hook by path too)."""
    import importlib.util

    path = Path(__file__).with_name("griffe_rst.py")
    spec = importlib.util.spec_from_file_location("multitask_docs_griffe_rst", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.rst_to_markdown


def _paragraphs(obj: Any) -> list[str]:
    doc = _rst_to_markdown()(inspect.getdoc(obj) or "")
    return [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def cost_class(cls: Any) -> str:
    """``loss-only``, ``Gramian`` or ``Jacobian``: what the method needs from the engine."""
    if getattr(cls, "kind", "") == "loss":
        return "loss-only"
    return "Gramian" if getattr(cls, "needs", "jacobian") == "gramian" else "Jacobian"


def modes(cls: Any) -> str:
    if getattr(cls, "kind", "") == "loss":
        return "— (loss vector)"
    flags = (("parameters", cls.supports_parameters), ("features", cls.supports_features))
    return ", ".join(m for m, ok in flags if ok)


STEP_TIME_CSV = Path(__file__).resolve().with_name("data") / "step_time.csv"
STEP_TIME_COLUMNS = ["method", "mode", "tasks", "ratio", "ew_ms"]
#: rows of ``benchmarks/step_time.py`` that are references, not registered methods
STEP_TIME_REFERENCES = ("naive-loop", "engine/loop", "engine/batched")
_REGENERATE = (
    "python benchmarks/step_time.py --tasks 2 10 --steps 9 --threads 1 --csv docs/data/step_time.csv"
)


class StepTimes:
    """The measurements of ``benchmarks/step_time.py --csv``: ``ratios[(method, mode, tasks)]``, and the
    CSV's ``# key: value`` comment lines in ``meta`` (a plain class: this file is loaded by path)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta: dict[str, str] = {}
        self.ratios: dict[tuple[str, str, int], float] = {}

    @property
    def tasks(self) -> list[int]:
        return sorted({t for _, _, t in self.ratios})

    def cell(self, name: str, kind: str) -> str:
        """The table cell of one method: its ratio per measured ``T`` (parameters mode, else features),
        ``—`` where the CSV has no row."""
        mode = "loss" if kind == "loss" else "parameters"
        if kind != "loss" and not any(k[:2] == (name, mode) for k in self.ratios):
            mode = "features"
        values = [self.ratios.get((name, mode, t)) for t in self.tasks]
        if all(v is None for v in values):
            return "—"
        text = " · ".join("—" if v is None else f"{v:.2f}" for v in values)
        return text + (" (features)" if mode == "features" else "")


def read_step_times(path: Path = STEP_TIME_CSV, known: set[str] | None = None) -> StepTimes:
    """Parse and check the step-time CSV; any malformed line raises ``ValueError`` naming file and line.

    ``known``: the registered method names; a row for another name (not a reference) is refused, so a
    renamed or removed method cannot leave a stale measurement behind.
    """
    where = f"docs/hooks.py: step-time CSV {path}"
    if not path.is_file():
        raise ValueError(f"{where} is missing; regenerate it with: {_REGENERATE}")
    out = StepTimes(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        key, sep, value = lines[start][1:].partition(":")
        if sep:
            out.meta[key.strip()] = value.strip()
        start += 1
    for key in ("command", "machine"):
        if key not in out.meta:
            raise ValueError(f"{where}: no '# {key}: ...' comment line before the header")
    reader = csv.reader(lines[start:])
    header = next(reader, None)
    if header != STEP_TIME_COLUMNS:
        raise ValueError(f"{where}:{start + 1}: header must be {','.join(STEP_TIME_COLUMNS)}, got {header}")
    for offset, row in enumerate(reader, start=start + 2):
        if not row:
            continue
        if len(row) != len(STEP_TIME_COLUMNS):
            raise ValueError(f"{where}:{offset}: expected {len(STEP_TIME_COLUMNS)} fields, got {row}")
        name, mode, tasks_text, ratio_text, ew_text = (c.strip() for c in row)
        if known is not None and name not in known and name not in STEP_TIME_REFERENCES:
            raise ValueError(
                f"{where}:{offset}: method {name!r} is not registered; regenerate the CSV ({_REGENERATE})"
            )
        if mode not in ("parameters", "features", "loss"):
            raise ValueError(f"{where}:{offset}: mode must be parameters, features or loss, got {mode!r}")
        try:
            tasks, ratio, ew_ms = int(tasks_text), float(ratio_text), float(ew_text)
        except ValueError as err:
            raise ValueError(f"{where}:{offset}: tasks, ratio and ew_ms must be numbers ({err})") from None
        if tasks < 1 or not (math.isfinite(ratio) and ratio > 0) or not (math.isfinite(ew_ms) and ew_ms > 0):
            raise ValueError(f"{where}:{offset}: need tasks >= 1 and finite positive ratio and ew_ms: {row}")
        if (name, mode, tasks) in out.ratios:
            raise ValueError(f"{where}:{offset}: a second row for {name} / {mode} / T={tasks}")
        out.ratios[(name, mode, tasks)] = ratio
    return out


def methods_table(step_times: StepTimes | None = None) -> str:
    """Markdown table of every registered method, read from the registry and the class attributes, with
    the measured step time relative to EW from ``step_times`` (default: ``docs/data/step_time.csv``)."""
    reg = registry("method")
    if step_times is None:
        step_times = read_step_times(known=set(reg.names()))
    measured = "T = " + " · ".join(str(t) for t in step_times.tasks) if step_times.tasks else "not measured"
    rows = [
        f"| name | class | kind | modes | cost class | step time ÷ EW ({measured}) | paper |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in reg.names():
        cls = reg.get(name)
        paras = _paragraphs(cls)
        paper = paras[1] if len(paras) > 1 else ""
        rows.append(
            f"| `{name}` | [{cls.__name__}][{identifier(cls)}] | {cls.kind} | {modes(cls)} | "
            f"{cost_class(cls)} | {step_times.cell(name, cls.kind)} | {_cell(paper)} |"
        )
    return "\n".join(rows)


def step_time_source(step_times: StepTimes | None = None) -> str:
    """A paragraph naming the command, machine and date behind the step-time column, and the references."""
    if step_times is None:
        step_times = read_step_times(known=set(registry("method").names()))
    refs = []
    for ref in STEP_TIME_REFERENCES:
        values = [step_times.ratios.get((ref, "parameters", t)) for t in step_times.tasks]
        if any(v is not None for v in values):
            refs.append(f"`{ref}` " + " · ".join("—" if v is None else f"{v:.2f}" for v in values))
    meta = step_times.meta
    text = (
        f"Measured with `{meta['command']}` on {meta['machine']}"
        + (f" ({meta['date']})" if "date" in meta else "")
        + "; the numbers are in [`docs/data/step_time.csv`](../data/step_time.csv)."
    )
    if refs:
        text += " References in the same run (parameters mode): " + "; ".join(refs) + "."
    return text


def methods_of(cost: str) -> list[Any]:
    reg = registry("method")
    want = {"loss": "loss-only", "gramian": "Gramian", "jacobian": "Jacobian"}.get(cost)
    if want is None:
        raise ValueError(f"docs/hooks.py: gen:methods takes loss, gramian or jacobian, got {cost!r}")
    return [reg.get(n) for n in reg.names() if cost_class(reg.get(n)) == want]


def _entry(obj: Any, name: str) -> str:
    return (
        f"::: {identifier(obj)}\n"
        f"    options:\n"
        f"      heading: \"{obj.__name__} ({name})\"\n"
        f"      toc_label: \"{obj.__name__}\"\n"
        f"      members: false\n"
    )


def methods_entries(cost: str) -> str:
    return "\n".join(_entry(cls, cls.registry_name) for cls in methods_of(cost))


def registry_table(kind: str) -> str:
    reg = registry(kind)
    rows = ["| name | class | summary |", "|---|---|---|"]
    for name in reg.names():
        obj = reg.get(name)
        paras = _paragraphs(obj)
        summary = _cell(paras[0] if paras else "")
        rows.append(f"| `{name}` | [{obj.__name__}][{identifier(obj)}] | {summary} |")
    return "\n".join(rows)


def loader_call(name: str, cls: Any) -> str:
    """``multitask.create_dataset("name", split=..., ...)`` with the class's defaults."""
    args = [f'"{name}"']
    for p in inspect.signature(cls).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        args.append(f"{p.name}={p.default!r}" if p.default is not p.empty else f"{p.name}=...")
    return "multitask.create_dataset(" + ", ".join(args) + ")"


def registry_entries(kind: str) -> str:
    reg = registry(kind)
    out = []
    for n in reg.names():
        out.append(_entry(reg.get(n), n))
        if kind == "dataset":
            out.append(f"**Loader call** (defaults shown):\n\n```python\n{loader_call(n, reg.get(n))}\n```\n")
    return "\n".join(out)


#: public names whose docstring Griffe's Google parser cannot read, rendered as plain text (sphinx style)
#: until the docstring is fixed in ``src/`` (``tests/docs`` checks that every name still exists). None now:
#: free-text ``Attributes:`` sections (several names per line) are turned into a paragraph by
#: ``docs/griffe_rst.py``.
PLAIN_DOCSTRINGS: set[str] = set()


def all_entries(module_name: str) -> str:
    _import_multitask()
    import importlib

    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if not names:
        raise ValueError(f"docs/hooks.py: gen:all {module_name} has no __all__")
    out = []
    for n in names:
        path = f"{module_name}.{n}"
        plain = "      docstring_style: sphinx\n" if path in PLAIN_DOCSTRINGS else ""
        out.append(f"::: {path}\n    options:\n      heading_level: 2\n{plain}")
    return "\n".join(out)


def expand(markdown: str) -> str:
    """Replace every gen marker of a page by its generated Markdown."""

    def sub(match: re.Match[str]) -> str:
        what, arg = match.group(1), match.group(2)
        if what == "methods-table":
            return methods_table()
        if what == "step-time-source":
            return step_time_source()
        if what == "methods" and arg:
            return methods_entries(arg)
        if what == "registry-table" and arg:
            return registry_table(arg)
        if what == "registry" and arg:
            return registry_entries(arg)
        if what == "all" and arg:
            return all_entries(arg)
        raise ValueError(f"docs/hooks.py: unknown marker {match.group(0)!r}")

    return _MARKER.sub(sub, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:  # noqa: ARG001
    return expand(markdown)
