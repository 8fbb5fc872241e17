"""multitask: multi-task learning for PyTorch.

The public API: balancing methods (``create_method``/``list_methods``, the classes in
``multitask.methods``), ``backward`` and its ``StepInfo``, architectures (``create_model``/``list_models``,
``multitask.models``), datasets (``create_dataset``/``list_datasets``), ``metrics``, task ``affinity``, the
trainer (``multitask.train``) and the classical estimators (``multitask.classic``).

``classic`` and ``train`` are loaded on first use (module ``__getattr__``, PEP 562): ``classic`` pulls in
scikit-learn and SciPy, ``train`` YAML and every layer, and ``import multitask`` should not pay for them.
They are in ``__all__`` and visible to type checkers like the eagerly imported sub-packages.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from multitask import affinity as affinity
from multitask import methods as methods
from multitask import metrics as metrics
from multitask import models as models
from multitask._backward import StepInfo, backward
from multitask.core.tasks import Task
from multitask.data import create_dataset, list_datasets
from multitask.methods import create_method, list_methods
from multitask.models import create_model, list_models

if TYPE_CHECKING:
    from multitask import classic as classic
    from multitask import train as train

__version__ = "0.1.0"

__all__ = [
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

_LAZY = ("classic", "train")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
