"""Backbones, heads and multi-task architectures."""

from multitask.models import architectures as architectures  # noqa: F401  (registers every architecture)
from multitask.models import sharing as sharing  # noqa: F401  (registers the learned-sharing models)
from multitask.models.backbones import create_backbone, list_backbones
from multitask.models.base import MODELS, MultiTaskModel, create_model, list_models, register_model
from multitask.models.heads import create_head, list_heads

__all__ = [
    "MODELS",
    "MultiTaskModel",
    "create_backbone",
    "create_head",
    "create_model",
    "list_backbones",
    "list_heads",
    "list_models",
    "register_model",
]
