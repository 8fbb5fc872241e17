"""Balancing methods: loss weightings and gradient methods, one file each, one registry.

Every registered class is importable from here, e.g. ``from multitask.methods import CAGrad``.
"""

from multitask.methods import gradient as gradient  # noqa: F401  (registers the gradient methods)
from multitask.methods import loss as loss  # noqa: F401  (registers the loss weightings)
from multitask.methods.base import (
    METHODS,
    GradientMethod,
    LossContext,
    LossWeighting,
    Method,
    create_method,
    list_methods,
    register_method,
)
from multitask.methods.gradient.pmtl import pmtl_preferences

for _name in METHODS.names():
    _cls = METHODS.get(_name)
    globals()[_cls.__name__] = _cls

__all__ = [
    "METHODS",
    "GradientMethod",
    "LossContext",
    "LossWeighting",
    "Method",
    "create_method",
    "list_methods",
    "pmtl_preferences",
    "register_method",
] + sorted(METHODS.get(n).__name__ for n in METHODS.names())
