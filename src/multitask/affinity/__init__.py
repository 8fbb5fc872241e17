"""Task affinity and task grouping.

* :mod:`~multitask.affinity.gradients`: mean task-gradient cosines on the shared weights, measured with
  the Jacobian engine or read back from a run's ``steps.csv``.
* :mod:`~multitask.affinity.lookahead`: the lookahead inter-task affinity ``Z_{i→j}`` of TAG
  (Fifty et al., NeurIPS 2021).
* :mod:`~multitask.affinity.grouping`: budgeted selection of (possibly overlapping) task groups
  (Standley et al., ICML 2020; Fifty et al., NeurIPS 2021); :mod:`~multitask.affinity.configs`: the
  networks to train for a grouping (a ``branched`` tree, or one network per group with helper tasks),
  as training configs (``data.tasks`` per network) and the served results of the trained networks.
* :mod:`~multitask.affinity.rsa`: layer-wise task dissimilarity (RSA / CKA of per-task features) and
  the branching tree under a parameter or FLOPs budget (Vandenhende et al., BMVC 2020).
* :mod:`~multitask.affinity.standley`: network selection under a compute budget from per-group results
  (branch and bound, higher-order approximation, results read from finished runs).

Affinity matrices follow one convention: ``matrix[i, j]`` is the affinity of task ``i`` onto task ``j``.
"""

from multitask.affinity._matrix import AffinityAccumulator, TaskAffinity
from multitask.affinity.configs import (
    BranchedConfig,
    Network,
    network_configs,
    served_results,
    to_branched_config,
)
from multitask.affinity.gradients import affinity_from_log, gradient_affinity, task_gradient_cosines
from multitask.affinity.grouping import Grouping, group_score, select_groups
from multitask.affinity.lookahead import LookaheadAffinity, lookahead_affinity
from multitask.affinity.rsa import BranchingTree, branch_features, branching_tree, layer_dissimilarity
from multitask.affinity.standley import (
    NetworkSelection,
    higher_order_approximation,
    pairwise_matrix,
    performance_from_runs,
    select_networks,
)

__all__ = [
    "AffinityAccumulator",
    "BranchedConfig",
    "BranchingTree",
    "Grouping",
    "LookaheadAffinity",
    "Network",
    "NetworkSelection",
    "TaskAffinity",
    "affinity_from_log",
    "branch_features",
    "branching_tree",
    "gradient_affinity",
    "group_score",
    "higher_order_approximation",
    "layer_dissimilarity",
    "lookahead_affinity",
    "network_configs",
    "pairwise_matrix",
    "performance_from_runs",
    "select_groups",
    "select_networks",
    "served_results",
    "task_gradient_cosines",
    "to_branched_config",
]
