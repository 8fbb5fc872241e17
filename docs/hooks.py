"""MkDocs hook: expand the ``<!-- gen:... -->`` markers of the pages from the live registries.

The method table and the per-family API sections are written at build time from ``multitask``'s
registries, so a method, model or dataset added to the package appears on the site with no edit of
``docs/``, and a moved module (the identifiers come from ``cls.__module__``) cannot leave a dead entry.

Markers (each alone on its line):

* ``<!-- gen:methods-table -->``: every registered method with kind, modes, cost class, paper.
* ``<!-- gen:methods loss|gramian|jacobian -->``: a mkdocstrings entry per method of that cost class.
* ``<!-- gen:registry-table model|backbone|head|dataset -->``: name, class and summary of each entry.
* ``<!-- gen:registry model|backbone|head|dataset -->``: a mkdocstrings entry per registered entry.
* ``<!-- gen:all package.module -->``: a mkdocstrings entry per name of the module's ``__all__``, under its
  public path (so the page follows the curated API, not the private files behind it).
"""

from __future__ import annotations

import functools
import inspect
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


def methods_table() -> str:
    """Markdown table of every registered method, read from the registry and the class attributes."""
    reg = registry("method")
    rows = [
        "| name | class | kind | modes | cost class | paper |",
        "|---|---|---|---|---|---|",
    ]
    for name in reg.names():
        cls = reg.get(name)
        paras = _paragraphs(cls)
        paper = paras[1] if len(paras) > 1 else ""
        rows.append(
            f"| `{name}` | [{cls.__name__}][{identifier(cls)}] | {cls.kind} | {modes(cls)} | "
            f"{cost_class(cls)} | {_cell(paper)} |"
        )
    return "\n".join(rows)


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


#: public names whose docstring has a section Griffe's Google parser cannot read (an ``Attributes:`` list of
#: several names per line), rendered as plain text until the docstring is fixed in ``src/``; a name here
#: that parses cleanly again can be dropped (``tests/docs`` checks that every name still exists).
PLAIN_DOCSTRINGS = {
    "multitask.classic.MSMTFLClassifier",
    "multitask.classic.MSMTFLRegressor",
    "multitask.classic.MTFLRegressor",
    "multitask.classic.MTRLRegressor",
}


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
