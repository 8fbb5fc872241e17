import pytest
import torch

import multitask as mt
from multitask.models.architectures._common import to_size

CASES = [(bb, c) for bb in ("lenet", "resnet18") for c in ("two", "three", "five")]


@pytest.mark.parametrize("bb,config", CASES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("soft_ordering", bb, config, num_layers=3)


@pytest.mark.parametrize("bb", ["lenet", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("soft_ordering", bb, "three", num_layers=3)


@pytest.mark.parametrize("bb", ["lenet", "resnet18"])
def test_one_hot_mixing_is_a_fixed_order(bb, case_for):
    """The defining property: with one-hot s(t, d, .) each task applies the shared layers in a fixed order."""
    case = case_for(bb)
    tasks = case.configs["two"]
    model = case.build("soft_ordering", tasks, num_layers=3).eval()
    orders = [[2, 0, 1], [1, 1, 0]]  # task 0: F3, F1, F2; task 1: F2, F2, F1
    with torch.no_grad():
        for t, order in enumerate(orders):
            model.logits[t].copy_(torch.full((3, 3), -1e4))
            for d, k in enumerate(order):
                model.logits[t][d, k] = 1e4
    x, _ = case.batch(tasks)
    out = model(x)
    for t, (task, order) in enumerate(zip(tasks, orders)):
        h = model.backbone(x)
        for k in order:
            h = model.layers[k](h)
        torch.testing.assert_close(out[task.name], to_size(task, model.heads[t](h), x.shape[-2:]))


def test_uniform_mixing_at_start_and_soft_sum(case_for):
    case = case_for("lenet")
    tasks = case.configs["two"]
    model = case.build("soft_ordering", tasks, num_layers=2, depth=1).eval()
    torch.testing.assert_close(model.mixing("digit"), torch.full((1, 2), 0.5))
    with torch.no_grad():
        model.logits[0].copy_(torch.tensor([[0.3, -1.2]]))
    x, _ = case.batch(tasks)
    z = model.backbone(x)
    s = torch.softmax(torch.tensor([0.3, -1.2]), 0)
    expected = model.heads[0](s[0] * model.layers[0](z) + s[1] * model.layers[1](z))
    torch.testing.assert_close(model(x)["digit"], expected)


def test_bad_arguments():
    tasks = [mt.Task("a", "classification", 2)]
    for field, bad in (("num_layers", 0), ("depth", -1), ("dropout", 1.0)):
        with pytest.raises(ValueError, match=field):
            mt.create_model("soft_ordering", tasks=tasks, backbone="mlp", in_channels=4, **{field: bad})
