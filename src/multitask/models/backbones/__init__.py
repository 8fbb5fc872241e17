"""Backbones: ``create_backbone(name, in_channels=3, **kwargs)`` and ``list_backbones()``.

Every backbone has ``out_channels``, ``is_dense``, ``output_stride`` and a block view
(``blocks``, ``run_block``) that the architectures use; convolutional ones add ``forward_stages`` and
``stage_channels`` (multi-scale features, finest first). Registered: ``lenet``, ``segnet``, ``resnet18``,
``resnet50``, ``unet``, ``mlp``.
"""

from multitask._registry import import_submodules
from multitask.models.backbones._base import (
    BACKBONES,
    Backbone,
    ConvBackbone,
    copy_context,
    create_backbone,
    list_backbones,
    new_context,
    register_backbone,
)

import_submodules(__name__)

__all__ = [
    "BACKBONES",
    "Backbone",
    "ConvBackbone",
    "copy_context",
    "create_backbone",
    "list_backbones",
    "new_context",
    "register_backbone",
]
