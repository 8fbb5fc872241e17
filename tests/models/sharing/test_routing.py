import pytest
import torch

import multitask as mt
from multitask.models.architectures._common import to_size

CASES = [(bb, c) for bb in ("lenet", "resnet18") for c in ("two", "three", "five")]


@pytest.mark.parametrize("bb,config", CASES)
def test_shapes_partition_and_grads(bb, config, case_for, check_shapes, check_partition):
    """Shapes, partition, and finite gradients: back-propagation reaches the backbone, the heads and the
    blocks on the sampled routes (and no other block); REINFORCE reaches every router."""
    case = case_for(bb)
    tasks = case.configs[config]
    model = case.build("routing", tasks, num_blocks=3)
    x, y = case.batch(tasks)
    check_shapes(model.eval(), x)
    check_partition(model)
    model.train()
    out = model(x)
    losses = {t.name: t.loss(out[t.name], y[t.name]) for t in tasks}
    model.on_losses({k: v.detach() for k, v in losses.items()})
    model.regularization().backward(retain_graph=True)
    mt.backward(losses, mt.create_method("pcgrad"), shared=list(model.shared_parameters()))
    routes = model.routes()
    used = {(d, int(routes[t, d])) for t in range(len(tasks)) for d in range(model.depth)}
    for d, pool in enumerate(model.blocks):  # the partition follows the sampled routes
        for k, block in enumerate(pool):
            users = [t.name for i, t in enumerate(tasks) if int(routes[i, d]) == k]
            p = next(block.parameters())
            if len(users) > 1:
                assert any(p is q for q in model.shared_parameters())
            elif users:
                assert any(p is q for q in model.task_parameters(users[0]))
    for d, pool in enumerate(model.blocks):
        for k, block in enumerate(pool):
            for p in block.parameters():
                assert (p.grad is not None) == ((d, k) in used)
                assert p.grad is None or torch.isfinite(p.grad).all()
    others = [*model.backbone.parameters(), *model.heads.parameters(), *model.router]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in others)


@pytest.mark.parametrize("bb", ["lenet", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("routing", bb, "three", num_blocks=2, depth=1)


def test_reinforce_gradient_matches_the_formula(case_for):
    case = case_for("lenet")
    tasks = case.configs["two"]
    model = case.build("routing", tasks, num_blocks=3, depth=2, collaboration=0.5, router_weight=2.0)
    with torch.no_grad():
        model.router[0].copy_(torch.tensor([[0.2, -0.1, 0.4], [0.0, 0.3, -0.2]]))
        model.baseline.copy_(torch.tensor([-1.5, -0.7]))
        model.baseline_ready.fill_(True)
    x, _ = case.batch(tasks)
    model.train()
    model(x)
    routes = model.routes()
    model.on_losses({"digit": torch.tensor(1.2), "pose": torch.tensor(0.4)})
    model.regularization().backward()
    a = routes[0].tolist()
    share = [sum(int(routes[t, d]) == a[d] for t in range(2)) / 2 for d in range(2)]  # task 0's block share
    bonus = [0.5 * share[0], 0.5 * share[1]]
    returns = [-1.2 + bonus[0] + bonus[1], -1.2 + bonus[1]]
    expected = torch.zeros(2, 3)
    for d in range(2):
        pi = torch.softmax(model.router[0].detach()[d], 0)
        onehot = torch.nn.functional.one_hot(torch.tensor(a[d]), 3).float()
        expected[d] = -2.0 * (returns[d] - (-1.5)) * (onehot - pi)
    torch.testing.assert_close(model.router[0].grad, expected)
    assert model.regularization() is None  # consumed: one update per observed step
    torch.testing.assert_close(
        model.baseline, torch.tensor([0.9 * -1.5 + 0.1 * -1.2, 0.9 * -0.7 + 0.1 * -0.4])
    )


def test_routers_learn_the_rewarding_block(case_for):
    """The routing rule: REINFORCE moves each task's router to the block that gives it the lowest loss."""
    case = case_for("lenet")
    tasks = case.configs["two"]
    model = case.build("routing", tasks, num_blocks=3, depth=1, collaboration=0.0, momentum=0.5)
    opt = torch.optim.SGD(model.router.parameters(), lr=0.5)
    x, _ = case.batch(tasks)
    best = {"digit": 2, "pose": 0}
    torch.manual_seed(0)
    model.train()
    for _ in range(60):
        model(x)
        routes = model.routes()
        model.on_losses(
            {
                n: torch.tensor(0.1 if int(routes[t, 0]) == best[n] else 1.0)
                for t, n in enumerate(model.task_names)
            }
        )
        opt.zero_grad()
        model.regularization().backward()
        opt.step()
    assert model.policy("digit")[0].argmax() == 2 and model.policy("pose")[0].argmax() == 0
    assert model.policy("digit")[0, 2] > 0.8


def test_eval_uses_argmax_routes_and_shares_common_prefixes(case_for):
    case = case_for("resnet18")
    tasks = case.configs["three"]
    model = case.build("routing", tasks, num_blocks=3, depth=2).eval()
    with torch.no_grad():
        for t, route in enumerate([[0, 2], [0, 1], [1, 1]]):
            for d, k in enumerate(route):
                model.router[t][d, k] = 1.0
    x, _ = case.batch(tasks)
    calls = []
    handle = model.blocks[0][0].register_forward_hook(lambda *args: calls.append(1))
    out = model(x)
    handle.remove()
    assert len(calls) == 1  # tasks 0 and 1 share step 0's block 0: it runs once
    for t, (task, route) in enumerate(zip(tasks, [[0, 2], [0, 1], [1, 1]])):
        h = model.backbone(x)
        for d, k in enumerate(route):
            h = model.blocks[d][k](h)
        torch.testing.assert_close(out[task.name], to_size(task, model.heads[t](h), x.shape[-2:]))


def test_bad_arguments_and_losses(case_for):
    case = case_for("lenet")
    tasks = case.configs["two"]
    for field, bad in (("num_blocks", 0), ("depth", 0), ("collaboration", -1.0), ("momentum", 1.0)):
        with pytest.raises(ValueError, match=field):
            case.build("routing", tasks, **{field: bad})
    model = case.build("routing", tasks).train()
    model(case.batch(tasks)[0])
    with pytest.raises(ValueError, match="missing"):
        model.on_losses({"digit": torch.tensor(1.0)})
    with pytest.raises(ValueError, match="non-finite"):
        model.on_losses({"digit": torch.tensor(float("nan")), "pose": torch.tensor(1.0)})
    assert mt.create_model("routing", tasks=tasks, backbone="mlp", in_channels=4).regularization() is None
