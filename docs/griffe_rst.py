"""Griffe extension: render the reStructuredText bits of the docstrings as Markdown.

The docstrings are Google style but use a few reST constructs (Sphinx roles such as
``:class:`~multitask.core.tasks.Task```, literal blocks introduced by ``::``) that Markdown would show
verbatim. This rewrites them when the site is built; the sources are not changed:

* ``:role:`~a.b.C``` and ``:role:`a.b.C``` become inline code (`` `C` `` / `` `a.b.C` ``);
* a paragraph ending in ``::`` before an indented block ends in ``:`` (the block is already code).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|obj|exc|ref):`(~?)([^`<]+?)`")
_LITERAL = re.compile(r"(\S)::\n(\n[ \t]+\S)")


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with Sphinx roles as inline code and ``::`` literal-block markers as ``:``."""

    def role(match: re.Match[str]) -> str:
        short, target = match.group(1), match.group(2).strip()
        return f"`{target.rsplit('.', 1)[-1] if short else target}`"

    text = _ROLE.sub(role, text)
    return _LITERAL.sub(r"\1:\n\2", text)


class RstToMarkdown(griffe.Extension):
    """Rewrite each loaded object's docstring with :func:`rst_to_markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: ARG002
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
