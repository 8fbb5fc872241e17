"""``label_fraction``: reproducible, nested, per-task label dropping on any dataset."""

from __future__ import annotations

import math

import pytest
import torch

from multitask.core.tasks import Task, label_count
from multitask.data.partial import label_fraction, missing_target


class Toy:
    """Two tasks: a class index and a 2-D regression target."""

    tasks = [Task("cls", "classification", 3), Task("reg", "regression", 2)]

    def __len__(self) -> int:
        return 50

    def __getitem__(self, i: int):
        return torch.full((2,), float(i)), {"cls": torch.tensor(i % 3), "reg": torch.tensor([i, -i]).float()}


def _labelled(ds, task: Task) -> torch.Tensor:
    return torch.tensor([int(label_count(task, ds[i][1][task.name][None])) > 0 for i in range(len(ds))])


def test_fraction_is_exact_reproducible_nested_and_per_task() -> None:
    cls, reg = Toy.tasks
    small, large = label_fraction(Toy(), 0.1, seed=3), label_fraction(Toy(), 0.5, seed=3)
    assert int(_labelled(small, cls).sum()) == 5 and int(_labelled(large, cls).sum()) == 25
    assert bool((_labelled(small, cls) <= _labelled(large, cls)).all())  # 10 % ⊂ 50 %
    assert torch.equal(_labelled(small, cls), _labelled(label_fraction(Toy(), 0.1, seed=3), cls))
    assert not torch.equal(_labelled(small, cls), _labelled(label_fraction(Toy(), 0.1, seed=4), cls))
    assert not torch.equal(_labelled(small, cls), _labelled(small, reg))  # independent draws per task
    one = label_fraction(Toy(), {"reg": 0.2})
    assert bool(_labelled(one, cls).all()) and int(_labelled(one, reg).sum()) == 10
    x, targets = one[int((~_labelled(one, reg)).nonzero()[0])]
    assert targets["reg"].isnan().all() and targets["cls"] >= 0  # inputs and other tasks untouched


def test_missing_values_per_kind() -> None:
    assert missing_target(Task("s", "segmentation", 3), torch.zeros(2, 2, dtype=torch.long)).eq(-1).all()
    assert missing_target(Task("d", "depth", 1), torch.ones(1, 2, 2)).eq(0).all()
    assert missing_target(Task("m", "multilabel", 2), torch.ones(2)).isnan().all()
    assert missing_target(Task("b", "binary", 1), torch.tensor(1)).item() == -1


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan, {"nope": 0.5}, {"cls": "half"}])
def test_bad_fractions_name_the_problem(bad) -> None:
    with pytest.raises(ValueError, match="label_fraction"):
        label_fraction(Toy(), bad)
