"""multitask: multi-task learning for PyTorch.

The public API: balancing methods (``create_method``/``list_methods``), ``backward``, architectures
(``create_model``/``list_models``), datasets (``create_dataset``/``list_datasets``), metrics, the
trainer and benchmark runner, and the classical estimators in ``multitask.classic``.
"""

from multitask import affinity as affinity
from multitask import metrics as metrics
from multitask.core.backward import StepInfo, backward
from multitask.core.tasks import Task
from multitask.data import create_dataset, list_datasets
from multitask.methods import create_method, list_methods
from multitask.models import create_model, list_models

__version__ = "0.1.0"

__all__ = [
    "StepInfo",
    "affinity",
    "Task",
    "__version__",
    "backward",
    "create_dataset",
    "create_method",
    "create_model",
    "list_datasets",
    "list_methods",
    "list_models",
    "metrics",
]
