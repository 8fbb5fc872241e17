"""Learned sharing: architectures that learn what to share (one module per entry; importing registers them).

Maximum Roaming, soft layer ordering, routing networks, stochastic filter groups, AdaShare, Learning to
Branch and BMTAS; ``fully_adaptive`` holds the fully-adaptive feature sharing procedure (it produces
``branched`` configs). The search models (AdaShare, Learning to Branch, BMTAS) expose
``derived_config()``: the found architecture as a ``model`` config section, which
:func:`save_model_config` writes as YAML for a second training run.
"""

from multitask._registry import import_submodules
from multitask.models.sharing._common import save_model_config

import_submodules(__name__)

__all__ = ["save_model_config"]
