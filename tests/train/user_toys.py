"""A user's own dataset, model and method, outside the multitask package (written to a temp folder)."""

import torch
from torch import nn

from multitask import Task
from multitask.methods.base import LossWeighting
from multitask.models.base import MultiTaskModel


class ToyData(torch.utils.data.Dataset):
    def __init__(self, split="train", root=None, n=64, seed=0):
        g = torch.Generator().manual_seed(seed * 3 + ("train", "val", "test").index(split))
        self.x = torch.randn(n, 6, generator=g)
        self.sign = (self.x[:, 0] > 0).long()
        self.total = self.x[:, 1:3].sum(1, keepdim=True)
        self.tasks = [Task("sign", "classification", 2), Task("total", "regression", 1)]

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        return self.x[i], {"sign": self.sign[i], "total": self.total[i]}


class OneTaskPerItem(ToyData):
    """Multi-input style: each item carries one task's target only."""

    def __getitem__(self, i):
        return self.x[i], {"sign": self.sign[i]}


class ToyModel(MultiTaskModel):
    has_shared_representation = True

    def __init__(self, tasks, backbone="mlp", in_channels=6, hidden=16):
        super().__init__(tasks)
        self.encoder = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU())
        self.heads = nn.ModuleDict({t.name: nn.Linear(hidden, t.num_outputs) for t in tasks})

    def shared_parameters(self):
        return self.encoder.parameters()

    def task_parameters(self, task):
        return self.heads[task].parameters()

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return {t: head(z) for t, head in self.heads.items()}

    def forward(self, x):
        return self.decode(self.encode(x))


class HalfWeights(LossWeighting):
    """Weights 0.5 per task; records the budget it was told about."""

    budgets = []

    def on_train_begin(self, num_epochs, steps_per_epoch):
        HalfWeights.budgets.append((num_epochs, steps_per_epoch))

    def weights(self, losses):
        return torch.full_like(losses, 0.5)
