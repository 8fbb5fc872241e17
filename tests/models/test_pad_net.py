import pytest
import torch
import torch.nn.functional as F

import multitask as mt
from multitask.core.tasks import Task
from multitask.models.architectures._distill import Distillation

BACKBONES = ["segnet", "resnet18", "resnet50", "unet"]
SMALL = {"task_channels": 8}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    def deep_supervision(model, tasks, out):
        # one intermediate prediction per task, shaped like the final one
        assert list(model.aux_outputs) == [t.name for t in tasks]
        for t in tasks:
            (aux,) = model.aux_outputs[t.name]
            assert aux.shape == out[t.name].shape

    check_architecture("pad_net", bb, config, extra=deep_supervision, **SMALL)


@pytest.mark.parametrize("bb", ["unet", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("pad_net", bb, "three", **SMALL)


def test_distillation_matches_the_reference_rule():
    """F_k + Σ_{l≠k} sigmoid(A_l * F_l) ⊙ (W_l * F_l) (the survey's SABlock), recomputed with F.conv2d."""
    torch.manual_seed(0)
    module = Distillation(channels=3, num_sources=2)
    own, a, b = (torch.randn(2, 3, 5, 4) for _ in range(3))
    got = module(own, [a, b])
    expected = own.clone()
    for msg, f in zip(module.messages, (a, b)):
        assert msg.attention.bias is None and msg.conv.bias is None
        mask = torch.sigmoid(F.conv2d(f, msg.attention.weight, padding=1))
        expected = expected + mask * F.conv2d(f, msg.conv.weight, padding=1)
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="expects 2 source tasks"):
        module(own, [a])


def test_distillation_mask_depends_on_the_senders_features_only():
    """Changing the receiver's features shifts the output by exactly that change (no gate reads them);
    changing one sender changes only its own masked message."""
    torch.manual_seed(0)
    module = Distillation(channels=3, num_sources=2)
    own, a, b = (torch.randn(1, 3, 6, 6) for _ in range(3))
    base = module(own, [a, b])
    other_own = torch.randn_like(own)
    torch.testing.assert_close(module(other_own, [a, b]) - other_own, base - own)
    a2 = torch.randn_like(a)
    msg_b = module.messages[1](b)
    torch.testing.assert_close(module(own, [a2, b]), own + module.messages[0](a2) + msg_b)


def test_single_task_has_no_messages(case_for):
    case = case_for("unet")
    tasks = [Task("seg", "segmentation", 3)]
    model = case.build("pad_net", tasks, **SMALL)
    assert len(model.distill[0].messages) == 0 and not list(model.distill[0].parameters())
    own = torch.randn(1, 8, 4, 4)
    assert model.distill[0](own, []) is own


def test_distillation_passes_messages_between_tasks(case_for):
    """Task a's final prediction depends on task b's refinement; its intermediate one does not."""
    case = case_for("unet")
    tasks = case.configs["two"]  # seg, digit
    model = case.build("pad_net", tasks, **SMALL).eval()
    x, _ = case.batch(tasks)
    before = model(x)
    aux_before = model.aux_outputs["seg"][0]
    with torch.no_grad():
        for p in model.refine[1].parameters():
            p.add_(0.5)
    after = model(x)
    torch.testing.assert_close(model.aux_outputs["seg"][0], aux_before)
    assert not torch.allclose(after["seg"], before["seg"])


def test_ownership_and_encode_decode(case_for):
    case = case_for("resnet18")
    tasks = case.configs["three"]
    model = case.build("pad_net", tasks, **SMALL).eval()
    assert [id(p) for p in model.shared_parameters()] == [id(p) for p in model.backbone.parameters()]
    owned = {id(p) for p in model.task_parameters("depth")}
    for container in (model.refine, model.aux_heads, model.distill, model.heads):
        assert {id(p) for p in container[1].parameters()} <= owned
    x, _ = case.batch(tasks)
    assert model.has_shared_representation
    direct = model(x)
    via = model.decode(model.encode(x))
    for name in direct:
        torch.testing.assert_close(via[name], direct[name])


def test_features_mode_with_a_gradient_method(case_for):
    """The backbone output separates shared from task parameters, so features mode works as is."""
    case = case_for("unet")
    tasks = case.configs["three"]
    model = case.build("pad_net", tasks, **SMALL)
    x, y = case.batch(tasks)
    z = model.encode(x)
    out = model.decode(z)
    losses = {t.name: t.loss(out[t.name], y[t.name]) for t in tasks}
    for t in tasks:
        losses[t.name] = losses[t.name] + t.loss(model.aux_outputs[t.name][0], y[t.name])
    info = mt.backward(losses, mt.create_method("mgda"), shared=list(model.shared_parameters()), features=z)
    assert info.mode == "features"
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_needs_a_feature_map_backbone():
    tasks = [Task("a", "classification", 2)]
    with pytest.raises(ValueError, match="pad_net: needs a convolutional backbone.*'mlp'"):
        mt.create_model("pad_net", backbone="mlp", tasks=tasks, in_channels=4)
    with pytest.raises(ValueError, match="pad_net: needs a convolutional backbone.*'lenet'"):
        mt.create_model("pad_net", backbone="lenet", tasks=tasks, in_channels=1)
    with pytest.raises(ValueError, match="task_channels"):
        mt.create_model("pad_net", backbone="unet", tasks=tasks, task_channels=0)
