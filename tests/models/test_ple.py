import pytest
import torch

import multitask as mt
from multitask.core.tasks import Task

BACKBONES = ["mlp", "lenet", "resnet18", "unet"]
SMALL = {"num_levels": 2, "num_shared_experts": 1, "num_task_experts": 1, "expert_channels": 8}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("ple", bb, config, **SMALL)


@pytest.mark.parametrize("config", ["two", "three", "five"])
def test_vector_input_without_backbone(config, check_vector_architecture, check_ple_outputs):
    """Outputs recomputed from the weights (Eqs. 2-5), not only their task names."""
    check_vector_architecture("ple", config, outputs=check_ple_outputs, **SMALL)


@pytest.mark.parametrize("bb", ["mlp", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("ple", bb, "three", **SMALL)


def test_lower_level_task_experts_reach_other_tasks_through_the_shared_gate():
    """Unlike CGC, a PLE level feeds the shared gate (over all experts) into the next level, so task b's
    first-level experts influence task a; its last-level experts do not."""
    torch.manual_seed(0)
    tasks = [Task("a", "regression", 2), Task("b", "regression", 2)]
    model = mt.create_model("ple", tasks=tasks, in_channels=5, **SMALL).eval()
    x = torch.randn(4, 5)
    before = model(x)
    with torch.no_grad():
        for p in model.task_experts[1][1].parameters():  # task b, last level
            p.add_(1.0)
    after_last = model(x)
    torch.testing.assert_close(after_last["a"], before["a"])
    assert not torch.allclose(after_last["b"], before["b"])
    with torch.no_grad():
        for p in model.task_experts[1][0].parameters():  # task b, first level
            p.add_(1.0)
    assert not torch.allclose(model(x)["a"], after_last["a"])


def test_level_structure_and_gate_weights():
    torch.manual_seed(0)
    tasks = [Task("a", "regression", 1), Task("b", "classification", 3), Task("c", "binary", 1)]
    model = mt.create_model(
        "ple",
        tasks=tasks,
        in_channels=4,
        num_levels=3,
        num_shared_experts=2,
        num_task_experts=2,
        expert_channels=5,
    )
    assert len(model.shared_experts) == 3 and len(model.shared_gates) == 2
    # shared gate over all 3*2 + 2 experts; task gates over 2 + 2
    assert model.shared_gates[0].linear.out_features == 8
    assert model.task_gates[0][0].linear.out_features == 4
    # level 0 reads the input (4 features), later levels the 5-wide expert outputs
    assert model.task_gates[2][0].linear.in_features == 4 and model.task_gates[2][1].linear.in_features == 5
    model(torch.randn(3, 4))
    for t in tasks:
        assert len(model.gate_weights[t.name]) == 3
        for w in model.gate_weights[t.name]:
            torch.testing.assert_close(w.sum(1), torch.ones(3))


def test_one_level_ple_equals_cgc():
    torch.manual_seed(0)
    tasks = [Task("a", "regression", 2), Task("b", "classification", 3)]
    cfg = {"num_shared_experts": 2, "num_task_experts": 1, "expert_channels": 6}
    ple = mt.create_model("ple", tasks=tasks, in_channels=4, num_levels=1, **cfg).eval()
    cgc = mt.create_model("cgc", tasks=tasks, in_channels=4, **cfg).eval()
    cgc.load_state_dict(ple.state_dict())
    x = torch.randn(5, 4)
    out_p, out_c = ple(x), cgc(x)
    for t in tasks:
        torch.testing.assert_close(out_p[t.name], out_c[t.name])


def test_bad_levels_named():
    with pytest.raises(ValueError, match="num_levels"):
        mt.create_model("ple", tasks=[Task("a", "regression", 1)], in_channels=3, num_levels=0)
