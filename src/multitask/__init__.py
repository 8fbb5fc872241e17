"""multitask: multi-task learning for PyTorch.

The public API: balancing methods (``create_method``/``list_methods``, the classes in
``multitask.methods``), ``backward`` and its ``StepInfo``, architectures (``create_model``/``list_models``,
``multitask.models``), datasets (``create_dataset``/``list_datasets``), ``metrics``, task ``affinity``, the
trainer (``multitask.train``) and the classical estimators (``multitask.classic``).

Every name below is loaded on first use (module ``__getattr__``, PEP 562) from the module named next to
it, so ``import multitask`` is cheap and ``import multitask.classic`` (numpy/SciPy/scikit-learn only) does
not import torch. Type checkers and IDEs see the same names through the ``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multitask import affinity as affinity
    from multitask import classic as classic
    from multitask import methods as methods
    from multitask import metrics as metrics
    from multitask import models as models
    from multitask import train as train
    from multitask._backward import GradientOverflowError, StepInfo, backward
    from multitask.core.tasks import Task
    from multitask.data import create_dataset, list_datasets
    from multitask.methods import create_method, list_methods
    from multitask.models import create_model, list_models

__version__ = "0.1.0"

__all__ = [
    "GradientOverflowError",
    "StepInfo",
    "Task",
    "__version__",
    "affinity",
    "backward",
    "classic",
    "create_dataset",
    "create_method",
    "create_model",
    "list_datasets",
    "list_methods",
    "list_models",
    "methods",
    "metrics",
    "models",
    "train",
]

#: sub-packages exposed as attributes (`core` and `data` too, though not in `__all__`)
_SUBPACKAGES = ("affinity", "classic", "core", "data", "methods", "metrics", "models", "train")
#: public name -> the module that defines it
_DEFINED_IN = {
    "GradientOverflowError": "multitask._backward",
    "StepInfo": "multitask._backward",
    "backward": "multitask._backward",
    "Task": "multitask.core.tasks",
    "create_dataset": "multitask.data",
    "list_datasets": "multitask.data",
    "create_method": "multitask.methods",
    "list_methods": "multitask.methods",
    "create_model": "multitask.models",
    "list_models": "multitask.models",
}


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _DEFINED_IN:
        return getattr(importlib.import_module(_DEFINED_IN[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | {"__doc__", "__name__", "__path__", "__file__"})
