"""A many-task synthetic regression family with planted task groups (T ≥ 20), for the ``many`` suite.

Construction, deterministic from ``seed``: ``G`` group directions ``u_g ∈ R^d`` (independent Gaussian,
unit norm, so different groups are nearly orthogonal), and for each task ``t`` of group ``g(t)`` the
weights ``w_t = u_g + σ_w ε_t`` (``ε_t`` a unit Gaussian direction; ``σ_w`` small: tasks of a group
nearly agree). Inputs ``x ~ N(0, I_d)``; targets ``y_t = tanh(x·w_t) + σ_y ξ`` with Gaussian noise ``ξ``.
Tasks of one group share a representation and have aligned gradients; tasks of different groups
compete for capacity, so a method's Gramian (and the cosine heat map) shows ``G`` diagonal blocks.
Task ``t`` is named ``g{group}_t{index}`` so the planted grouping can be read from the names; groups
are interleaved (task ``t`` is in group ``t mod G``), so an unordered heat map hides them and a
cluster-ordered one shows them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_split
from multitask.data.registry import register_dataset

_SPLITS = ("train", "val", "test")


@register_dataset("planted_groups")
class PlantedGroups(Dataset):
    """Synthetic many-task regression with ``num_groups`` planted groups of tasks (see module docstring).

    Items: ``(x float32 [d], {task: y float32 [1]})``.

    Args:
        split: "train", "val" or "test".
        root: unused (generated); accepted for the dataset contract.
        num_tasks: ``T`` (default 24).
        num_groups: ``G`` (default 4; tasks are assigned round-robin, task ``t`` to group ``t mod G``).
        dim: input dimension ``d`` (default 16).
        task_noise: ``σ_w``, spread of the tasks around their group's direction (default 0.2).
        noise: ``σ_y``, target noise (default 0.1).
        n_train: training samples (default 2000).
        n_val: validation samples (default 500).
        n_test: test samples (default 500).
        seed: seed of the task weights and of every split's samples.
    """

    def __init__(
        self,
        split: str = "train",
        root: str | None = None,
        num_tasks: int = 24,
        num_groups: int = 4,
        dim: int = 16,
        task_noise: float = 0.2,
        noise: float = 0.1,
        n_train: int = 2000,
        n_val: int = 500,
        n_test: int = 500,
        seed: int = 0,
    ) -> None:
        check_split("planted_groups", split, _SPLITS)
        counts = {"num_tasks": num_tasks, "num_groups": num_groups, "dim": dim, "n_train": n_train,
                  "n_val": n_val, "n_test": n_test}  # fmt: skip
        for key, value in counts.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"planted_groups: {key} must be an int >= 1, got {value!r}")
        if num_groups > num_tasks:
            raise ValueError(f"planted_groups: num_groups={num_groups} exceeds num_tasks={num_tasks}")
        for key, value in (("task_noise", task_noise), ("noise", noise)):
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise ValueError(f"planted_groups: {key} must be a finite number >= 0, got {value!r}")
        rng = np.random.default_rng([seed, 0])
        groups = rng.standard_normal((num_groups, dim))
        groups /= np.linalg.norm(groups, axis=1, keepdims=True)
        spread = rng.standard_normal((num_tasks, dim))
        spread /= np.linalg.norm(spread, axis=1, keepdims=True)
        self.group_of = np.arange(num_tasks) % num_groups
        self.weights = groups[self.group_of] + float(task_noise) * spread
        n = {"train": n_train, "val": n_val, "test": n_test}[split]
        data = np.random.default_rng([seed, 1 + _SPLITS.index(split)])
        x = data.standard_normal((n, dim))
        y = np.tanh(x @ self.weights.T) + float(noise) * data.standard_normal((n, num_tasks))
        self.x = torch.from_numpy(x.astype(np.float32))
        self.y = torch.from_numpy(y.astype(np.float32))
        width = len(str(num_tasks - 1))
        self.tasks = [Task(f"g{g}_t{t:0{width}d}", "regression", 1) for t, g in enumerate(self.group_of)]

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        return self.x[i], {task.name: self.y[i, k : k + 1] for k, task in enumerate(self.tasks)}
