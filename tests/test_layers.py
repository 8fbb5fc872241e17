"""The package's layers: every import in ``src/multitask`` points down the layer list, no package cycle.

The layer list is the one of the design document ("One idea per layer"), package by package:

    _registry < core < methods < backward < {models, data, metrics} < distributed < train
              < {bench, affinity} < classic < multitask (the facade, ``__init__.py``) < cli

Packages on one row are independent peers (no arrow between them); ``classic`` is independent of every
layer (numpy/scipy only: it may import ``_registry`` and nothing else of ``multitask``), and only the
facade and the CLI import it. ``_registry`` is the shared leaf. The backward layer lives in
``multitask/_backward.py`` (the public name ``multitask.backward`` is the function).

Every module is parsed (``ast``), so imports inside functions count too; imports under
``if TYPE_CHECKING:`` do not (they never run). Offending imports are reported with file and line.

The public-API checks at the end keep ``multitask.methods`` explicit: a literal ``__all__`` that names
every registered method class, no ``globals()`` injection.
"""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "multitask"

#: rows of the layer list, bottom first; packages on one row are independent of each other
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_registry",),
    ("core",),
    ("methods",),
    ("backward",),
    ("models", "data", "metrics"),
    ("distributed",),
    ("train",),
    ("bench", "affinity"),
    ("classic",),
    ("multitask",),  # the facade: src/multitask/__init__.py
    ("cli",),
)
#: a package that depends on no layer: what it may import besides itself
INDEPENDENT: dict[str, frozenset[str]] = {"classic": frozenset({"_registry"})}
#: modules whose layer is not their file name
ALIASES = {
    "_backward": "backward",
    "_backward_base": "backward",
    "_backward_dp": "backward",
    "_backward_partial": "backward",
    "__main__": "cli",
}

#: Known upward imports in code owned by other work (train/, bench/), each to be deleted by whoever removes
#: the import (the test fails on an entry whose file exists but no longer has the import, so a stale one
#: cannot linger). Keys: (file relative to src/, imported layer).
KNOWN_UPWARD_IMPORTS: dict[tuple[str, str], str] = {}

RANK = {name: i for i, row in enumerate(LAYERS) for name in row}


@dataclass(frozen=True)
class Import:
    file: str  # relative to src/
    line: int
    source: str  # the importing layer
    target: str  # the imported layer
    text: str  # the import statement as written


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> str:
    """The layer of a dotted module name inside ``multitask`` (``multitask`` itself: the facade)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "multitask"
    return ALIASES.get(parts[1], parts[1])


def _is_submodule(module: str) -> bool:
    path = SRC.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (its ``else`` branch does run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _imports_of(path: Path) -> list[Import]:
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    source = _layer(module)
    rel = str(path.relative_to(SRC))
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text, filename=str(path))
    found: list[Import] = []
    for node in _runtime_nodes(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            # `from multitask import methods` imports the sub-package; `from multitask import backward`,
            # a name defined by the facade, imports the facade
            targets = [
                f"{name}.{a.name}" if _is_submodule(f"{name}.{a.name}") else name for a in node.names
            ]
        for target in targets:
            if target == "multitask" or target.startswith("multitask."):
                statement = " ".join((ast.get_source_segment(text, node) or "").split())
                found.append(Import(rel, node.lineno, source, _layer(target), statement))
    return found


@functools.cache
def _all_imports() -> tuple[Import, ...]:
    return tuple(imp for path in sorted(PACKAGE.rglob("*.py")) for imp in _imports_of(path))


def _why_not(imp: Import) -> str | None:
    """Why an import breaks the layer list, or ``None`` when it is fine."""
    src, dst = imp.source, imp.target
    if src == dst:
        return None
    for layer in (src, dst):
        if layer not in RANK:
            return f"{layer!r} is in no layer: add it to LAYERS (and to the design document)"
    if src in INDEPENDENT and dst not in INDEPENDENT[src]:
        return f"{src} is independent of the other layers, it may import only {sorted(INDEPENDENT[src])}"
    if dst in INDEPENDENT and src not in ("multitask", "cli"):
        return f"{dst} is independent: only the facade and the CLI import it"
    if RANK[src] < RANK[dst]:
        return f"{src} (row {RANK[src]}) imports {dst} (row {RANK[dst]}), an arrow up the layer list"
    if RANK[src] == RANK[dst]:
        return f"{src} and {dst} are independent peers on one row"
    return None


def _report(bad: list[tuple[Import, str]]) -> str:
    return "\n".join(f"  {i.file}:{i.line}: `{i.text}` -- {why}" for i, why in bad)


def test_the_walker_sees_the_known_arrows() -> None:
    """Guard against a walker that finds nothing: a few arrows that must exist are found."""
    arrows = {(i.source, i.target) for i in _all_imports()}
    assert {("methods", "core"), ("backward", "methods"), ("backward", "core"), ("cli", "train")} <= arrows


def test_every_import_points_down_the_layer_list() -> None:
    bad = [(imp, why) for imp in _all_imports() if (why := _why_not(imp)) is not None]
    unexpected = [(i, why) for i, why in bad if (i.file, i.target) not in KNOWN_UPWARD_IMPORTS]
    assert not unexpected, "imports against the layer list:\n" + _report(unexpected)
    found = {(i.file, i.target) for i, _ in bad}
    stale = sorted(k for k in KNOWN_UPWARD_IMPORTS if k not in found and (SRC / k[0]).is_file())
    assert not stale, f"KNOWN_UPWARD_IMPORTS entries that no longer match an import, delete them: {stale}"


def test_no_package_level_cycle() -> None:
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], Import] = {}
    for imp in _all_imports():
        if imp.source != imp.target:
            graph.setdefault(imp.source, set()).add(imp.target)
            where.setdefault((imp.source, imp.target), imp)
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    lines = []
    for comp in cycles:
        for (a, b), imp in sorted(where.items()):
            if a in comp and b in comp:
                lines.append(f"  {imp.file}:{imp.line}: `{imp.text}` ({a} -> {b})")
    assert not cycles, f"package-level import cycles {cycles}; their arrows (first of each):\n" + "\n".join(
        lines
    )


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm (the graph has a dozen nodes: recursion is fine)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


# ---- the checker itself, on hand-made imports --------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "target", "ok"),
    [
        ("methods", "core", True),
        ("core", "methods", False),  # the cycle issue 12 removed
        ("core", "_registry", True),
        ("backward", "methods", True),
        ("methods", "backward", False),
        ("models", "data", False),  # independent peers
        ("classic", "core", False),  # classic is independent
        ("classic", "_registry", True),
        ("bench", "classic", False),
        ("multitask", "classic", True),
        ("train", "multitask", False),  # the facade is above every layer but the CLI
        ("cli", "multitask", True),
        ("newthing", "core", False),
    ],
)
def test_rule(source: str, target: str, ok: bool) -> None:
    assert (_why_not(Import("x.py", 1, source, target, "import x")) is None) == ok


def test_cycle_finder() -> None:
    comps = _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert {"a", "b", "c"} in comps and {"d"} in comps


# ---- explicit public API ---------------------------------------------------------------------------
def _literal_all(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            assert isinstance(node.value, ast.List), f"{path}: __all__ must be a literal list"
            assert all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.value.elts)
            return [e.value for e in node.value.elts]
    raise AssertionError(f"{path} has no __all__")


@pytest.mark.parametrize(
    "init", ["__init__.py", "methods/__init__.py", "methods/gradient/__init__.py", "methods/loss/__init__.py"]
)
def test_public_modules_list_their_names_literally(init: str) -> None:
    path = PACKAGE / init
    names = _literal_all(path)
    assert "globals()[" not in path.read_text(encoding="utf-8"), f"{init} injects names through globals()"
    module = __import__(_module_name(path), fromlist=["_"])
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"{init}: __all__ names {missing} that the module does not define"
    assert len(set(names)) == len(names)


def test_every_registered_method_is_exported() -> None:
    import multitask as mt

    exported = set(mt.methods.__all__)
    for name in mt.list_methods():
        cls = mt.methods.METHODS.get(name)
        assert cls.__name__ in exported, f"method {name!r} ({cls.__name__}) missing from multitask.methods"
        assert getattr(mt.methods, cls.__name__) is cls


def test_every_method_module_is_imported_by_its_package() -> None:
    """A new method file needs its import line in ``methods/gradient/__init__.py`` or ``methods/loss/...``:
    without it the method would never register."""
    import multitask.methods  # noqa: F401

    for family in ("gradient", "loss"):
        for path in sorted((PACKAGE / "methods" / family).glob("[!_]*.py")):
            module = f"multitask.methods.{family}.{path.stem}"
            assert module in sys.modules, f"{module} is not imported by multitask.methods.{family}"


def test_top_level_exposes_the_layers() -> None:
    import multitask as mt

    for name in ("methods", "models", "classic", "train", "affinity", "metrics"):
        assert name in mt.__all__
        assert getattr(mt, name).__name__ == f"multitask.{name}"


def test_the_facade_and_classic_import_without_torch() -> None:
    """``import multitask`` loads its names on first use, so the numpy/scipy-only ``multitask.classic``
    is importable without torch (in a fresh interpreter: this one has torch loaded already)."""
    code = "import sys, multitask, multitask.classic; sys.exit('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"importing multitask.classic imported torch (or failed): {done.stderr}"
