"""Datasets (each returns ``(input, {task: target})`` and has a ``tasks`` list) and shipped assets."""

from multitask.data.registry import DATASETS, create_dataset, list_datasets, register_dataset

__all__ = ["DATASETS", "create_dataset", "list_datasets", "register_dataset"]

from multitask._registry import import_submodules as _import_submodules  # noqa: E402

_import_submodules(__name__)
