"""docs/griffe_dataclasses.py: Griffe sees the ``__init__`` that a ``dataclass`` alias generates."""

import importlib.util
import re
from pathlib import Path

import griffe
import yaml

ROOT = Path(__file__).resolve().parents[2]

BASE = '''
import dataclasses

hyperparameters = dataclasses.dataclass(eq=False, repr=False)
no_init = dataclasses.dataclass(init=False)
plain = dataclasses.dataclass
not_a_dataclass = dict


@dataclasses.dataclass(kw_only=True)
class Base:
    tol: float = 1e-4
'''

MODELS = '''
from pkg._base import Base, hyperparameters, no_init, not_a_dataclass, plain


@hyperparameters
class Model(Base):
    rho1: float = 1.0
    k: int = 1


class Inherits(Model):
    pass


@no_init
class NoInit:
    a: int = 0


@plain
class Plain:
    b: str = "x"


@not_a_dataclass
class Other:
    c: int = 0
'''


def _extension():
    path = ROOT / "docs" / "griffe_dataclasses.py"
    spec = importlib.util.spec_from_file_location("docs_griffe_dataclasses", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DataclassAliases


def _load(tmp_path: Path, extensions: griffe.Extensions) -> griffe.Module:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "_base.py").write_text(BASE, encoding="utf-8")
    (pkg / "models.py").write_text(MODELS, encoding="utf-8")
    return griffe.load("pkg", search_paths=[tmp_path], extensions=extensions, allow_inspection=False)


def _params(cls: griffe.Object) -> list[tuple[str, str]]:
    init = cls.all_members["__init__"]
    return [(p.name, p.kind.value) for p in init.parameters if p.name != "self"]


def test_an_alias_of_dataclass_gets_the_generated_init(tmp_path):
    pkg = _load(tmp_path, griffe.load_extensions(_extension()))
    models = pkg["models"]
    # the alias's own fields first, then the kw_only base's (as dataclasses orders them at run time)
    expected = [("rho1", "positional or keyword"), ("k", "positional or keyword"), ("tol", "keyword-only")]
    assert _params(models["Model"]) == expected
    assert models["Model"]["__init__"].parameters["rho1"].annotation.canonical_path == "float"
    assert _params(models["Inherits"]) == expected  # inherited, as at run time
    assert _params(models["Plain"]) == [("b", "positional or keyword")]
    assert _params(models["NoInit"]) == []  # the alias's init=False is honoured: no parameters
    assert "__init__" not in models["Other"].members  # an alias of something else is left alone


def test_without_the_extension_griffe_misses_the_alias(tmp_path):
    models = _load(tmp_path, griffe.load_extensions())["models"]
    assert "__init__" not in models["Model"].members


def test_the_site_is_strict_about_parameters():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    plugins = yaml.safe_load(config)["plugins"]
    mkdocstrings = next(p["mkdocstrings"] for p in plugins if isinstance(p, dict) and "mkdocstrings" in p)
    handler = mkdocstrings["handlers"]["python"]["options"]
    assert handler["docstring_options"] == {"warn_unknown_params": True, "warn_missing_types": True}
    assert "docs/griffe_dataclasses.py:DataclassAliases" in handler["extensions"]


def test_estimator_signatures_show_their_hyperparameters(site):
    page = (site / "classic" / "index.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", page)
    start = text.index("L21Regressor(")
    signature = text[start : text.index(")", start)]
    for name in ("rho1", "rho_l2", "fit_intercept", "task_column"):
        assert name in signature, signature
