import pytest
import torch

import multitask as mt
from multitask.models.architectures._common import to_size

CASES = [(bb, c) for bb in ("lenet", "resnet18") for c in ("two", "three", "five")]


@pytest.mark.parametrize("bb,config", CASES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("stochastic_filter_groups", bb, config)


@pytest.mark.parametrize("bb", ["lenet", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("stochastic_filter_groups", bb, "three")


def assign(model, groups):
    """Hard assignments: ``groups[l]`` lists each filter's group."""
    with torch.no_grad():
        for lg, g in zip(model.assign_logits, groups):
            lg.fill_(-20.0)
            lg[torch.arange(len(g)), torch.tensor(g)] = 20.0


def test_specialist_filters_serve_only_their_task(case_for):
    """The defining property: a filter of task a's group affects task a only; shared filters affect all."""
    case = case_for("lenet")  # blocks of 10, 20 and 50 units
    tasks = case.configs["two"]
    model = case.build("stochastic_filter_groups", tasks).eval()
    groups = [[k % 3 for k in range(c)] for c in (10, 20, 50)]  # 0: digit, 1: pose, 2: shared
    assign(model, groups)
    x, _ = case.batch(tasks)
    before = model(x)
    with torch.no_grad():
        model.backbone.blocks[1].conv.weight[0].add_(1.0)  # filter 0 of block 1: digit's specialist
    after = model(x)
    assert not torch.allclose(after["digit"], before["digit"])
    torch.testing.assert_close(after["pose"], before["pose"])
    with torch.no_grad():
        model.backbone.blocks[1].conv.weight[2].add_(1.0)  # a shared filter
    again = model(x)
    assert not torch.allclose(again["pose"], after["pose"])


def test_forward_matches_the_group_rule(case_for):
    case = case_for("lenet")
    tasks = case.configs["two"]
    model = case.build("stochastic_filter_groups", tasks).eval()
    gen = torch.Generator().manual_seed(0)
    groups = [torch.randint(3, (c,), generator=gen).tolist() for c in (10, 20, 50)]
    assign(model, groups)
    x, _ = case.batch(tasks)
    out = model(x)

    def onehot(g):
        return torch.nn.functional.one_hot(torch.tensor(g), 3).float()

    h, prev = x, None
    for block, g in zip(model.backbone.blocks, groups):
        m = onehot(g)
        total = 0
        for grp in range(3):
            if prev is None:
                inp = h
            else:
                allowed = prev[:, 2] if grp == 2 else prev[:, grp] + prev[:, 2]
                inp = h * allowed.view(1, -1, *([1] * (h.dim() - 2)))
            o = block(inp, {})[1]
            total = total + o * m[:, grp].view(1, -1, *([1] * (o.dim() - 2)))
        h, prev = total, m
    for t, task in enumerate(tasks):
        expected = model.heads[t](h * (prev[:, t] + prev[:, 2]))
        torch.testing.assert_close(out[task.name], to_size(task, expected, x.shape[-2:]))


def test_all_shared_assignment_equals_hard_sharing(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("stochastic_filter_groups", tasks).eval()
    assign(model, [[2] * c for c in model.backbone.block_channels])
    hps = case.build("hps", tasks).eval()
    hps.backbone.load_state_dict(model.backbone.state_dict())
    hps.heads.load_state_dict(model.heads.state_dict())
    x, _ = case.batch(tasks)
    a, b = model(x), hps(x)
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_kl_term_matches_by_hand(case_for):
    case = case_for("lenet")
    tasks = case.configs["two"]
    prior = [0.25, 0.25, 0.5]
    model = case.build("stochastic_filter_groups", tasks, prior=prior, kl_weight=0.1)
    assert float(model.regularization().detach()) == pytest.approx(0.0, abs=1e-6)  # starts at the prior
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for lg in model.assign_logits:
            lg.copy_(torch.randn(lg.shape, generator=gen))
    p = torch.tensor(prior)
    kl = sum(
        (q * (q / p).log()).sum() for q in (torch.softmax(lg.detach(), -1) for lg in model.assign_logits)
    )
    torch.testing.assert_close(model.regularization().detach(), 0.1 * kl)


def test_bad_arguments():
    tasks = [mt.Task("a", "classification", 2), mt.Task("b", "regression", 1)]
    with pytest.raises(ValueError, match="prior must be 3 positive"):
        mt.create_model(
            "stochastic_filter_groups", tasks=tasks, backbone="mlp", in_channels=4, prior=[0.5, 0.5]
        )
    with pytest.raises(ValueError, match="kl_weight"):
        mt.create_model("stochastic_filter_groups", tasks=tasks, backbone="mlp", in_channels=4, kl_weight=-1)
