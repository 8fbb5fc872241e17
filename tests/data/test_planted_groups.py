"""The many-task synthetic family: T tasks in planted groups, deterministic, well-formed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from multitask.data import create_dataset


def test_planted_groups_are_in_the_task_weights_and_data():
    ds = create_dataset("planted_groups", split="train", num_tasks=40, num_groups=5, n_train=300)
    assert len(ds.tasks) == 40 and ds.tasks[7].name == "g2_t07" and len(ds) == 300
    x, y = ds[0]
    assert x.shape == (16,) and set(y) == {t.name for t in ds.tasks} and y["g0_t00"].shape == (1,)
    w = ds.weights / np.linalg.norm(ds.weights, axis=1, keepdims=True)
    cos = w @ w.T
    same = ds.group_of[:, None] == ds.group_of[None, :]
    off = ~np.eye(40, dtype=bool)
    assert cos[same & off].min() > np.abs(cos[~same]).max()  # every within-group pair beats every across
    corr = np.corrcoef(ds.y.numpy().T)
    assert corr[same & off].mean() > 0.7 > np.abs(corr[~same]).mean()  # visible in the targets too
    again = create_dataset("planted_groups", split="train", num_tasks=40, num_groups=5, n_train=300)
    assert torch.equal(ds.y, again.y)
    val = create_dataset("planted_groups", split="val", num_tasks=40, num_groups=5, n_val=300)
    assert np.allclose(val.weights, ds.weights) and not torch.equal(val.x, ds.x)


@pytest.mark.parametrize("bad", [{"num_tasks": 0}, {"num_groups": 30}, {"noise": -1.0}, {"dim": True}])
def test_bad_arguments(bad):
    with pytest.raises(ValueError, match="planted_groups"):
        create_dataset("planted_groups", split="train", **bad)
