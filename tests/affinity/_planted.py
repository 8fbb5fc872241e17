"""A regression problem with planted task groups, loaded by import path from a config."""

import torch

from multitask import Task


class PlantedGroups(torch.utils.data.Dataset):
    """Tasks ``a1, a2`` read the first half of the input through one map, ``b1, b2`` the second half
    through another: within a group the tasks nearly coincide, across groups they share nothing."""

    def __init__(self, split="train", root=None, n=256, seed=0):
        g = torch.Generator().manual_seed(1000 * seed + ("train", "val", "test").index(split))
        w = torch.Generator().manual_seed(7)
        wa, wb = torch.randn(4, generator=w), torch.randn(4, generator=w)
        self.x = torch.randn(n, 8, generator=g)
        ya, yb = self.x[:, :4] @ wa, self.x[:, 4:] @ wb
        noise = 0.05 * torch.randn(n, 4, generator=g)
        self.y = torch.stack([ya, ya, yb, yb], dim=1) + noise
        self.names = ["a1", "a2", "b1", "b2"]
        self.tasks = [Task(name, "regression", 1) for name in self.names]

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        return self.x[i], {name: self.y[i, k : k + 1] for k, name in enumerate(self.names)}
