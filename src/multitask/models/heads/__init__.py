"""Task heads: ``create_head(task, in_channels, kind=None)``.

Kinds: ``linear`` and ``mlp`` for classification / binary / multilabel / regression tasks (they
global-average-pool a feature map first), ``conv``, ``aspp`` and ``segnet`` (MTAN's prediction layers)
for dense tasks (output at the feature resolution; the architecture upsamples to the input size).
"""

from multitask._registry import import_submodules
from multitask.models.heads._base import HEADS, create_head, list_heads, register_head

import_submodules(__name__)

__all__ = ["HEADS", "create_head", "list_heads", "register_head"]
