"""A small name -> factory registry, filled by decorators (timm style)."""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps lower-case names to classes or factories.

    ``register(name)`` is a decorator; ``create(name, **kwargs)`` builds one; ``names(pattern)`` lists them.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        if not name or name != name.lower():
            raise ValueError(f"{self.kind} names must be non-empty and lower-case, got {name!r}")

        def deco(obj: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            try:
                obj.registry_name = name  # type: ignore[attr-defined]
            except (AttributeError, TypeError):
                pass
            return obj

        return deco

    def get(self, name: str) -> Callable[..., T]:
        """The entry registered as ``name``, or a user's own class given as ``"package.module:Name"``.

        An unknown name raises ``ValueError`` listing the closest registered names.
        """
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__}")
        if ":" in name:
            return self._import(name)
        key = name.lower()
        if key not in self._entries:
            close = difflib.get_close_matches(key, list(self._entries), n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise ValueError(
                f"unknown {self.kind} {name!r}; {hint}known: {known} "
                f"(or give your own as 'package.module:ClassName')"
            )
        return self._entries[key]

    def _import(self, path: str) -> Callable[..., T]:
        module_name, _, attr = path.partition(":")
        if not module_name or not attr:
            raise ValueError(f"{self.kind} import path must look like 'module:ClassName', got {path!r}")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"{self.kind} {path!r}: cannot import module {module_name!r} ({exc})") from exc
        obj: Any = module
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"{self.kind} {path!r}: module {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
        if not callable(obj):
            raise ValueError(f"{self.kind} {path!r} is not a class or factory")
        return obj

    def create(self, name: str, **kwargs: Any) -> T:
        return self.get(name)(**kwargs)

    def names(self, pattern: str | None = None) -> list[str]:
        names = sorted(self._entries)
        if pattern is not None:
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return names

    def __contains__(self, name: object) -> bool:
        return name in self._entries


def import_submodules(package_name: str) -> None:
    """Import every module of a package so that their ``@register`` decorators run.

    Each package that holds one-file-per-entry modules calls this from its ``__init__`` so that adding
    an entry is one new file and nothing else changes.
    """
    import pkgutil

    package = importlib.import_module(package_name)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package_name}.{info.name}")
