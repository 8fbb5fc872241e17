"""Griffe extension: let Griffe's dataclasses support see decorators that are aliases of ``dataclass``.

The classical estimators are decorated with ``@hyperparameters``, a module-level alias
(``hyperparameters = dataclasses.dataclass(eq=False, repr=False)`` in ``multitask.classic._base``) of
which Python generates the estimators' ``__init__``. Griffe's built-in dataclasses extension recreates
that ``__init__`` during static analysis, but only for a decorator written ``dataclasses.dataclass``
(called or not): behind the alias it sees no dataclass, the documented hyper-parameters (``rho1``, ...)
are missing from the signature, and ``warn_unknown_params`` reports each of them.

This resolves, before the built-in extension runs, every class decorator that names a module attribute
whose value is ``dataclasses.dataclass`` or a call of it, to that value (``dataclass(eq=False,
repr=False)``, keeping the alias's arguments: ``init=False`` or ``kw_only=True`` there are honoured).
Nothing is hard-coded about the alias's name, and the sources are not changed.
"""

from __future__ import annotations

from typing import Any

import griffe

DATACLASS = "dataclasses.dataclass"


def _is_dataclass_expr(value: object) -> bool:
    return isinstance(value, griffe.Expr) and value.canonical_path == DATACLASS


def dataclass_alias_target(value: object, collection: griffe.ModulesCollection) -> griffe.Expr | None:
    """The ``dataclasses.dataclass[(...)]`` expression a decorator ``value`` names, else None.

    ``value`` must be a bare name or dotted path (an alias is not called again: ``@alias(...)`` is left
    alone) that resolves, in the loaded packages, to an attribute assigned ``dataclasses.dataclass`` or
    a call of it.
    """
    if not isinstance(value, (griffe.ExprName, griffe.ExprAttribute)) or _is_dataclass_expr(value):
        return None
    try:
        target = collection.get_member(value.canonical_path)
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    if isinstance(target, griffe.Alias):
        try:
            target = target.final_target
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return None
    if not isinstance(target, griffe.Attribute) or not _is_dataclass_expr(target.value):
        return None
    return target.value  # type: ignore[return-value]


def _classes(obj: griffe.Object) -> list[griffe.Class]:
    """Every class defined in ``obj`` (a module or class), nested ones included; aliases are skipped."""
    found: list[griffe.Class] = []
    for member in obj.members.values():
        if member.is_alias:
            continue
        if isinstance(member, griffe.Class):
            found.append(member)
        if isinstance(member, (griffe.Module, griffe.Class)):
            found.extend(_classes(member))
    return found


class DataclassAliases(griffe.Extension):
    """Replace each class decorator that aliases ``dataclasses.dataclass`` by the expression it names.

    ``on_package`` of the extensions listed in the configuration runs before the built-in dataclasses
    extension's (Griffe appends that one last), which then builds each such class's ``__init__``.
    """

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:  # noqa: ARG002
        for cls in _classes(pkg):
            for decorator in cls.decorators:
                target = dataclass_alias_target(decorator.value, loader.modules_collection)
                if target is not None:
                    decorator.value = target
