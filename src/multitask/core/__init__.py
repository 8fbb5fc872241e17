"""Core, the bottom layer (torch only; imports nothing above it).

Tasks (:mod:`~multitask.core.tasks`), the per-task Jacobian/Gramian engine (:mod:`~multitask.core.jacobian`),
autograd-graph walks (:mod:`~multitask.core.graph`), the shared Gramian numerics
(:mod:`~multitask.core.gramian`) and the solvers of the gradient methods (:mod:`~multitask.core.solvers`).
"""

from multitask.core.tasks import DENSE_KINDS, KINDS, Task, task_loss

__all__ = ["DENSE_KINDS", "KINDS", "Task", "task_loss"]
