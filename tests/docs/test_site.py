"""The built site: generated method table and API pages match the registries, assets are local."""

import html
import importlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

import multitask as mt
from multitask.data import DATASETS
from multitask.methods import METHODS
from multitask.models import MODELS

ROOT = Path(__file__).resolve().parents[2]


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _html(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text(encoding="utf-8")


def test_method_table_lists_every_registered_method_with_its_attributes():
    hooks = _hooks()
    table = hooks.methods_table()
    rows = {re.match(r"\| `([a-z_0-9]+)` \|", line).group(1): line for line in table.splitlines()[2:]}
    assert sorted(rows) == mt.list_methods()
    for name, row in rows.items():
        cls = METHODS.get(name)
        cells = [c.strip() for c in row.strip("|").split(" | ")]
        assert cells[2] == cls.kind
        if cls.kind == "loss":
            assert cells[4] == "loss-only"
        else:
            assert cells[4] == {"gramian": "Gramian", "jacobian": "Jacobian"}[cls.needs], name
            assert ("parameters" in cells[3]) == cls.supports_parameters, name
            assert ("features" in cells[3]) == cls.supports_features, name


def test_family_pages_partition_the_methods():
    hooks = _hooks()
    families = [hooks.methods_of(c) for c in ("loss", "gramian", "jacobian")]
    names = sorted(cls.registry_name for family in families for cls in family)
    assert names == mt.list_methods()
    with pytest.raises(ValueError, match="loss, gramian or jacobian"):
        hooks.methods_of("hessian")


def test_unknown_marker_is_an_error():
    with pytest.raises(ValueError, match="unknown marker"):
        _hooks().expand("<!-- gen:nonsense -->")


def test_plain_docstring_overrides_name_existing_objects():
    hooks = _hooks()
    for path in hooks.PLAIN_DOCSTRINGS:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path


def test_dataset_loader_call_uses_the_signature():
    call = _hooks().loader_call("sarcos", DATASETS.get("sarcos"))
    assert call.startswith('multitask.create_dataset("sarcos", split=\'train\', root=None')


def test_every_method_has_a_rendered_entry_on_its_family_page(site):
    pages = {c: _html(site, f"methods/{c}") for c in ("loss", "gramian", "jacobian")}
    hooks = _hooks()
    for cost in pages:
        for cls in hooks.methods_of(cost):
            assert f'id="{hooks.identifier(cls)}"' in pages[cost], cls.__name__
    index = _html(site, "methods")
    for name in mt.list_methods():
        assert f"<code>{name}</code>" in index, name


def test_every_model_and_dataset_has_a_rendered_entry(site):
    hooks = _hooks()
    models = _html(site, "models/architectures")
    for name in mt.list_models():
        assert f'id="{hooks.identifier(MODELS.get(name))}"' in models, name
    datasets = _html(site, "datasets")
    text = html.unescape(re.sub(r"<[^>]+>", "", datasets))
    for name in mt.list_datasets():
        assert f'id="{hooks.identifier(DATASETS.get(name))}"' in datasets, name
        assert f'multitask.create_dataset("{name}", split=' in text, name


def test_math_assets_and_scripts_are_served_from_the_site(site):
    assets = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")
    for asset in (f"assets/katex/{a}" for a in assets):
        assert (site / asset).is_file(), asset
    css = (site / "assets/katex/katex.min.css").read_text(encoding="utf-8")
    for font in re.findall(r"url\((fonts/[^)]+)\)", css):
        assert (site / "assets/katex" / font).is_file(), font
    for page in ("", "methods", "guides/modes"):
        page_html = _html(site, page)
        refs = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page_html)
        remote = [r for r in refs if r.startswith(("http:", "https:", "//"))]
        assert not remote, f"{page or 'home'} loads {remote} from the network"


def test_search_index_holds_the_api_and_the_guides(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    assert {"methods/gramian/", "guides/plain_loop/", "metrics/"} <= locations
    text = " ".join(doc["text"] for doc in index["docs"])
    assert "Conflict-Averse" in text


def test_rst_roles_and_literal_markers_become_markdown():
    spec = importlib.util.spec_from_file_location("docs_griffe_rst", ROOT / "docs" / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    convert = module.rst_to_markdown
    assert convert("See :class:`~multitask.core.tasks.Task` and :func:`a.b`.") == "See `Task` and `a.b`."
    assert convert("Layout::\n\n    root/x.npy\n") == "Layout:\n\n    root/x.npy\n"
    assert convert("a ratio 3::2 stays") == "a ratio 3::2 stays"
    free = "Fit.\n\nAttributes:\n    coef_ (T, d), intercept_ (T,),\n    n_iter_\n\nMore."
    assert convert(free) == "Fit.\n\n**Attributes:** coef_ (T, d), intercept_ (T,), n_iter_\n\nMore."
    items = "Attributes:\n    coef_ (T, d): the weights,\n        one row per task.\n    n_iter_: count.\n"
    assert convert(items) == items  # a Google section Griffe parses: left alone


def test_rendered_pages_hold_no_rst_roles(site):
    for page in ("datasets", "metrics", "methods/gramian", "classic", "affinity"):
        prose = re.sub(r"<(details|pre)\b.*?</\1>", " ", _html(site, page), flags=re.S)  # source listings
        assert ":class:`" not in prose and ":func:`" not in prose, page
        assert not re.search(r":(class|func|meth|mod):<code>", prose), page
