import pytest
import torch
import torch.nn.functional as F

import multitask as mt
from multitask.core.tasks import Task

BACKBONES = ["mlp", "lenet", "resnet18", "unet"]
SMALL = {"num_experts": 3, "expert_channels": 8}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("mmoe", bb, config, **SMALL)


@pytest.mark.parametrize("config", ["two", "three", "five"])
def test_vector_input_without_backbone(config, check_vector_architecture):
    def outputs(model, tasks, x):
        out = model(x)
        assert {k: v.shape[0] for k, v in out.items()} == {t.name: 2 for t in tasks}
        assert not model.has_shared_representation
        with pytest.raises(NotImplementedError, match="no single shared representation"):
            model.encode(x)

    check_vector_architecture("mmoe", config, outputs=outputs, **SMALL)


@pytest.mark.parametrize("bb", ["mlp", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("mmoe", bb, "three", **SMALL)


def test_forward_matches_the_paper_formula():
    """y_k = h_k(Σ_i softmax(W_gk x)_i f_i(x)), recomputed with functional ops from the weights."""
    torch.manual_seed(0)
    tasks = [Task("a", "regression", 2), Task("b", "classification", 3)]
    model = mt.create_model("mmoe", tasks=tasks, in_channels=5, num_experts=4, expert_channels=6)
    x = torch.randn(7, 5)
    out = model(x)
    experts = [F.relu(F.linear(x, e[0].weight, e[0].bias)) for e in model.experts]
    for k, task in enumerate(tasks):
        g = torch.softmax(x @ model.gates[k].linear.weight.T, dim=1)
        mixed = sum(g[:, i : i + 1] * experts[i] for i in range(4))
        head = model.heads[k].fc
        torch.testing.assert_close(out[task.name], F.linear(mixed, head.weight, head.bias))
        torch.testing.assert_close(model.gate_weights[task.name], g)
    assert model.gates[0].linear.bias is None  # the paper's gate is a bias-free linear map


def test_gates_are_per_task_and_experts_shared(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("mmoe", tasks, **SMALL)
    shared = {id(p) for p in model.shared_parameters()}
    assert {id(p) for p in model.experts.parameters()} <= shared
    assert {id(p) for p in model.backbone.parameters()} <= shared
    assert {id(p) for p in model.gates[1].parameters()} <= {id(p) for p in model.task_parameters("digit")}
    x, _ = case.batch(tasks)
    model(x)
    w = model.gate_weights["seg"]
    assert w.shape == (2, 3) and torch.allclose(w.sum(1), torch.ones(2)) and (w >= 0).all()


def test_no_single_shared_representation(case_for):
    """The shared experts sit after the backbone: features mode would skip them, so the model says
    it has no shared representation (trainers fall back to parameters mode)."""
    case = case_for("segnet")
    tasks = case.configs["three"]
    model = case.build("mmoe", tasks, **SMALL)
    assert not model.has_shared_representation
    x, _ = case.batch(tasks)
    with pytest.raises(NotImplementedError, match="no single shared representation"):
        model.encode(x)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="task 'seg' is dense"):
        mt.create_model("mmoe", tasks=[Task("seg", "segmentation", 2)], in_channels=4)
    with pytest.raises(ValueError, match="num_experts"):
        mt.create_model("mmoe", tasks=[Task("a", "regression", 1)], in_channels=4, num_experts=0)
    model = mt.create_model("mmoe", tasks=[Task("a", "regression", 1)], in_channels=4)
    with pytest.raises(ValueError, match=r"expects input \[B, 4\]"):
        model(torch.randn(2, 5))
    with pytest.raises(ValueError, match="unknown task"):
        mt.create_model("mmoe", tasks=[Task("a", "regression", 1)], in_channels=4, head={"b": "mlp"})
