import pytest
import torch

import multitask as mt
from multitask.core.tasks import Task

BACKBONES = ["mlp", "lenet", "resnet18", "unet"]
SMALL = {"num_shared_experts": 2, "num_task_experts": 1, "expert_channels": 8}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("cgc", bb, config, **SMALL)


@pytest.mark.parametrize("config", ["two", "three", "five"])
def test_vector_input_without_backbone(config, check_vector_architecture, check_ple_outputs):
    """Outputs recomputed from the weights (Eqs. 2-5), not only their task names."""
    check_vector_architecture("cgc", config, outputs=check_ple_outputs, **SMALL)


@pytest.mark.parametrize("bb", ["mlp", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("cgc", bb, "three", **SMALL)


def test_a_task_never_reads_another_tasks_experts():
    """CGC's gate k mixes only task k's experts and the shared ones (Eq. 3)."""
    torch.manual_seed(0)
    tasks = [Task("a", "regression", 2), Task("b", "regression", 2), Task("c", "classification", 3)]
    model = mt.create_model("cgc", tasks=tasks, in_channels=5, **SMALL).eval()
    x = torch.randn(4, 5)
    before = model(x)
    with torch.no_grad():
        for p in model.task_experts[1].parameters():  # task "b"
            p.add_(1.0)
    after = model(x)
    torch.testing.assert_close(after["a"], before["a"])
    torch.testing.assert_close(after["c"], before["c"])
    assert not torch.allclose(after["b"], before["b"])
    # the shared experts reach every task
    with torch.no_grad():
        for p in model.shared_experts.parameters():
            p.add_(1.0)
    final = model(x)
    assert all(not torch.allclose(final[t.name], after[t.name]) for t in tasks)


def test_gate_weights_cover_own_and_shared_experts(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("cgc", tasks, num_shared_experts=3, num_task_experts=2, expert_channels=8)
    model(case.batch(tasks)[0])
    assert model.num_levels == 1 and len(model.shared_gates) == 0
    for t in tasks:
        (w,) = model.gate_weights[t.name]
        assert w.shape == (2, 2 + 3)
        torch.testing.assert_close(w.sum(1), torch.ones(2))
    task_ids = {id(p) for p in model.task_parameters("seg")}
    assert {id(p) for p in model.task_experts[0].parameters()} <= task_ids
    assert {id(p) for p in model.task_gates[0].parameters()} <= task_ids
    assert {id(p) for p in model.shared_experts.parameters()} <= {id(p) for p in model.shared_parameters()}


def test_cgc_has_no_level_argument():
    with pytest.raises(TypeError):
        mt.create_model("cgc", tasks=[Task("a", "regression", 1)], in_channels=3, num_levels=2)
