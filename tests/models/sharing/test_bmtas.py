import itertools

import pytest
import torch

import multitask as mt
from multitask.models.architectures._common import to_size
from multitask.models.architectures.branched import normalize_branches
from multitask.models.sharing import save_model_config
from multitask.models.sharing.bmtas import ExpectedGroups
from multitask.train.config import Config

CASES = [(bb, c) for bb in ("lenet", "resnet18") for c in ("two", "three", "five")]


@pytest.mark.parametrize("bb,config", CASES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("bmtas", bb, config)


@pytest.mark.parametrize("bb", ["lenet", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("bmtas", bb, "three")


def test_expected_groups_one_block_is_the_expected_number_of_distinct_copies():
    gen = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(3, 3, generator=gen), -1)
    got = ExpectedGroups(3)([p])
    exact = sum(
        p[0, a] * p[1, b] * p[2, c] * len({a, b, c}) for a, b, c in itertools.product(range(3), repeat=3)
    )
    torch.testing.assert_close(got, exact.reshape(1))


def test_expected_groups_two_tasks_two_blocks():
    gen = torch.Generator().manual_seed(1)
    p0, p1 = (torch.softmax(torch.randn(2, 2, generator=gen), -1) for _ in range(2))
    shared0, shared1 = (p0[0] * p0[1]).sum(), (p1[0] * p1[1]).sum()
    got = ExpectedGroups(2)([p0, p1])
    # two tasks: they share block 1 only if they share blocks 0 and 1 (the recursion is exact here)
    torch.testing.assert_close(got, torch.stack([2 - shared0, 2 - shared0 * shared1]))


def search(case, tasks, weight, steps=20):
    model = case.build("bmtas", tasks, resource_weight=weight)
    x, y = case.batch(tasks, batch=4)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    torch.manual_seed(0)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        loss = sum(t.loss(out[t.name], y[t.name]) for t in tasks)
        reg = model.regularization()
        (loss if reg is None else loss + reg).backward()
        opt.step()
    return model


def test_resource_weight_moves_the_search_to_fewer_flops(case_for):
    """The defining property: the larger the resource weight, the cheaper the sampled and the found tree
    (same data, seed and initialisation; only the weight differs)."""
    case = case_for("lenet")
    tasks = case.configs["three"]
    models = [search(case, tasks, w) for w in (0.0, 2.0, 20.0)]
    with torch.no_grad():
        costs = [float(m.expected_cost()) for m in models]
    assert costs[0] > costs[1] >= costs[2] - 1e-3, costs
    found = [m.derived_macs() for m in models]
    assert found[0] > found[1] >= found[2], found
    single = float(models[0].block_macs.sum())
    assert single <= found[2] < 3 * single


def test_warmup_runs_task_specific_paths(case_for):
    case = case_for("lenet")
    tasks = case.configs["two"]
    model = case.build("bmtas", tasks, warmup_epochs=1).eval()
    x, _ = case.batch(tasks)
    out = model(x)
    assert model.regularization() is None
    for t, task in enumerate(tasks):
        h = x
        for copies in model.copies:
            _, h = copies[t](h, {})
        torch.testing.assert_close(out[task.name], model.heads[t](h))
    model.on_epoch_end(0)
    assert not model.warming_up and model.regularization() is not None


def test_eval_follows_argmax_paths_and_derived_config(case_for, tmp_path):
    case = case_for("resnet18")
    tasks = case.configs["three"]
    model = case.build("bmtas", tasks).eval()
    choices = [[0, 0, 0], [1, 1, 2], [1, 1, 0], [2, 0, 1]]  # per block: each task's copy
    with torch.no_grad():
        for layer, row in zip(model.alphas, choices):
            for t, c in enumerate(row):
                layer[t][c] = 3.0
    x, _ = case.batch(tasks)
    out = model(x)
    for t, task in enumerate(tasks):
        h = x
        for l, copies in enumerate(model.copies):
            _, h = copies[choices[l][t]](h, {})
        torch.testing.assert_close(out[task.name], to_size(task, model.heads[t](h), x.shape[-2:]))
    branches = model.derived_branches()
    assert branches == [[[0, 1, 2]], [[0, 1], [2]], [[0, 1], [2]], [[0], [1], [2]]]
    normalize_branches(branches, model.task_names, 4)
    macs = model.block_macs.tolist()
    assert model.derived_macs() == pytest.approx(macs[0] + 2 * macs[1] + 2 * macs[2] + 3 * macs[3])
    loaded = Config.from_yaml(save_model_config(model.derived_config(), tmp_path / "bmtas.yaml")).model
    branched = mt.create_model(loaded.name, backbone=loaded.backbone, tasks=tasks, **loaded.kwargs)
    assert branched(x)["seg"].shape == (2, 3, 32, 32)


def test_bad_arguments(case_for):
    case = case_for("lenet")
    tasks = case.configs["two"]
    with pytest.raises(ValueError, match="resource_weight"):
        case.build("bmtas", tasks, resource_weight=-0.1)
    with pytest.raises(ValueError, match="warmup_epochs"):
        case.build("bmtas", tasks, warmup_epochs=-1)
