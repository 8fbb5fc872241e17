"""Backbones, heads and multi-task architectures."""

from multitask.models import architectures as architectures  # noqa: F401  (registers every architecture)
from multitask.models.base import MODELS, MultiTaskModel, create_model, list_models, register_model

__all__ = ["MODELS", "MultiTaskModel", "create_model", "list_models", "register_model"]
