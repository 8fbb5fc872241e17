"""Griffe extension: render the reStructuredText bits of the docstrings as Markdown.

The docstrings are Google style but use a few reST constructs (Sphinx roles such as
``:class:`~multitask.core.tasks.Task```, literal blocks introduced by ``::``) that Markdown would show
verbatim. This rewrites them when the site is built; the sources are not changed:

* ``:role:`~a.b.C``` and ``:role:`a.b.C``` become inline code (`` `C` `` / `` `a.b.C` ``);
* a paragraph ending in ``::`` before an indented block ends in ``:`` (the block is already code);
* an ``Attributes:`` section written as free text (several names per line, as in the classical
  estimators: ``coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_iter_``) that Griffe's Google parser
  cannot split into ``name: description`` items becomes a paragraph headed **Attributes:**.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc|ref):`(~?)([^`<]+?)`")
_LITERAL = re.compile(r"(\S)::\n(\n[ \t]+\S)")
_ATTRIBUTES = re.compile(r"^([ \t]*)Attributes:\n((?:\1[ \t]+\S.*\n?)+)", re.M)
_ITEM = re.compile(r"^[A-Za-z_][\w.]*\s*(?:\([^)]*\))?:(?:\s|$)")


def _free_form_attributes(match: re.Match[str]) -> str:
    indent, body = match.group(1), match.group(2)
    lines = body.splitlines()
    depth = min(len(line) - len(line.lstrip()) for line in lines)
    items = [line[depth:] for line in lines if len(line) - len(line.lstrip()) == depth]
    if all(_ITEM.match(item) for item in items):
        return match.group(0)  # a proper Google section: Griffe renders it as a table
    text = " ".join(line.strip() for line in lines)
    return f"{indent}**Attributes:** {text}\n"


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with Sphinx roles as inline code and ``::`` literal-block markers as ``:``."""

    def role(match: re.Match[str]) -> str:
        short, target = match.group(1), match.group(2).strip()
        return f"`{target.rsplit('.', 1)[-1] if short else target}`"

    text = _ROLE.sub(role, text)
    text = _ATTRIBUTES.sub(_free_form_attributes, text)
    return _LITERAL.sub(r"\1:\n\2", text)


class RstToMarkdown(griffe.Extension):
    """Rewrite each loaded object's docstring with :func:`rst_to_markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: ARG002
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
