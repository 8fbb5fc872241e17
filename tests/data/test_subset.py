import pickle

import pytest
import torch
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data import create_dataset
from multitask.data.subset import TaskSubset, select_tasks

SARCOS = [f"torque_{k}" for k in range(1, 8)]


@pytest.fixture(scope="module")
def sarcos():
    return create_dataset("sarcos", split="val")


def test_keeps_the_named_tasks_in_the_given_order(sarcos):
    sub = select_tasks(sarcos, ["torque_5", "torque_2"])
    assert [t.name for t in sub.tasks] == ["torque_5", "torque_2"]
    assert len(sub) == len(sarcos)
    for i in (0, 7, len(sarcos) - 1):
        x, y = sub[i]
        x0, y0 = sarcos[i]
        assert torch.equal(x, x0)
        assert list(y) == ["torque_5", "torque_2"]  # only the subset's targets, in its order
        assert all(torch.equal(y[k], y0[k]) for k in y)
    assert sub.split == "val"  # other attributes pass through
    again = pickle.loads(pickle.dumps(sub))  # DataLoader workers pickle the dataset
    assert again.task_names == sub.task_names and torch.equal(again[3][1]["torque_2"], sub[3][1]["torque_2"])


def test_errors_name_the_option_and_list_the_datasets_tasks(sarcos):
    unknown = r"^data\.tasks: unknown task\(s\) \['torque_9'\]; the dataset's tasks are"
    with pytest.raises(ValueError, match=unknown) as e:
        select_tasks(sarcos, ["torque_1", "torque_9"], where="data.tasks")
    assert str(SARCOS) in str(e.value)
    with pytest.raises(ValueError, match=r"\['torque_1'\] listed more than once"):
        select_tasks(sarcos, ["torque_1", "torque_2", "torque_1"])
    for bad in ([], "torque_1", None):
        with pytest.raises(ValueError, match="non-empty list of task names"):
            select_tasks(sarcos, bad)
    with pytest.raises(ValueError, match="must be strings"):
        select_tasks(sarcos, [1])
    with pytest.raises(TypeError, match="`tasks` list"):
        select_tasks([(0, {})], ["a"])


class _Domain(Dataset):
    def __init__(self, task, n):
        self.tasks, self.n = [Task(task, "classification", 2)], n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.zeros(2), {self.tasks[0].name: torch.tensor(i % 2)}


class _MultiInput(Dataset):
    multi_input = True

    def __init__(self):
        self.tasks = [Task(n, "classification", 2) for n in ("a", "b", "c")]
        self.domains = {"a": _Domain("a", 3), "b": _Domain("b", 4), "c": _Domain("c", 5)}

    def __len__(self):
        return 5

    def __getitem__(self, i):
        raise IndexError("items come from the domains")


def test_multi_input_keeps_the_subsets_domains():
    full = _MultiInput()
    sub = select_tasks(full, ["c", "a"])
    assert isinstance(sub, TaskSubset) and sub.multi_input
    assert list(sub.domains) == ["c", "a"] and sub.domains["c"] is full.domains["c"]
    assert [t.name for t in sub.tasks] == ["c", "a"]
