"""Core: tasks, the per-task Jacobian/Gramian engine, solvers, and ``backward``."""

from multitask.core.tasks import DENSE_KINDS, KINDS, Task, task_loss

__all__ = ["DENSE_KINDS", "KINDS", "Task", "task_loss"]
