"""The dataset registry: ``create_dataset(name, split=..., root=..., **kwargs)``."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from multitask._registry import Registry

DATASETS: Registry[Dataset] = Registry("dataset")
register_dataset = DATASETS.register


def create_dataset(name: str, split: str = "train", root: str | None = None, **kwargs: Any) -> Dataset:
    """Build a registered dataset, e.g. ``create_dataset("multimnist", split="val")``."""
    return DATASETS.create(name, split=split, root=root, **kwargs)


def list_datasets(pattern: str | None = None) -> list[str]:
    """Registered dataset names (optionally filtered by a glob pattern)."""
    return DATASETS.names(pattern)
