import pytest
import torch

import multitask as mt
from multitask.core.tasks import Task
from multitask.methods.base import GradientMethod
from multitask.models.heads.aspp import ASPPHead

BACKBONES = ["lenet", "mlp", "segnet", "resnet18", "resnet50", "unet"]


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("hps", bb, config)


@pytest.mark.parametrize("bb", BACKBONES)
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("hps", bb, "three")


def test_shared_parameters_are_the_backbone(case_for):
    case = case_for("segnet")
    model = case.build("hps", case.configs["two"])
    assert [id(p) for p in model.shared_parameters()] == [id(p) for p in model.backbone.parameters()]
    seg_head = model.heads[0]
    assert [id(p) for p in model.task_parameters("seg")] == [id(p) for p in seg_head.parameters()]


@pytest.mark.parametrize("bb", ["resnet18", "segnet", "lenet"])
def test_encode_decode_equals_forward(bb, case_for):
    case = case_for(bb)
    tasks = case.configs["two"]
    model = case.build("hps", tasks).eval()
    x, _ = case.batch(tasks)
    z = model.encode(x)
    assert model.has_shared_representation
    direct = model(x)
    via = model.decode(z)
    for name in direct:
        torch.testing.assert_close(via[name], direct[name])


def test_decode_without_encode_uses_output_stride(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("hps", tasks).eval()
    z = torch.randn(2, model.backbone.out_channels, 2, 3)
    out = model.decode(z)
    assert out["seg"].shape == (2, 3, 64, 96)  # 2x3 map at output stride 32


class UnitWeights(GradientMethod):
    """Test double: a Gramian method with weights 1 (so the update is the gradient of Σ L_t)."""

    needs = "gramian"

    def weights(self, gramian, losses=None):
        return torch.ones(gramian.shape[0], dtype=gramian.dtype)


def test_features_mode_backward_matches_plain_backward(case_for):
    """Features mode through encode/decode with unit weights reproduces the gradients of Σ L_t."""
    case = case_for("mlp")
    tasks = case.configs["two"]
    model = case.build("hps", tasks)
    x, y = case.batch(tasks, batch=4)
    z = model.encode(x)
    preds = model.decode(z)
    losses = {t.name: t.loss(preds[t.name], y[t.name]) for t in tasks}
    mt.backward(losses, UnitWeights(), shared=list(model.shared_parameters()), features=z)
    got = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    out = model(x)
    sum(t.loss(out[t.name], y[t.name]) for t in tasks).backward()
    for g, p in zip(got, model.parameters()):
        torch.testing.assert_close(g, p.grad)


def test_head_mapping_and_errors(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("hps", tasks, head={"seg": "aspp"})
    assert isinstance(model.heads[0], ASPPHead)
    with pytest.raises(ValueError, match="unknown task"):
        case.build("hps", tasks, head={"nope": "aspp"})
    with pytest.raises(ValueError, match="'seg' is dense"):
        mt.create_model("hps", backbone="lenet", tasks=[Task("seg", "segmentation", 2)], in_channels=1)
    with pytest.raises(ValueError, match="unknown backbone"):
        mt.create_model("hps", backbone="vgg99", tasks=tasks)
    with pytest.raises(ValueError, match="backbone 'resnet18' expects input"):
        model(torch.randn(2, 1, 32, 32))


def test_task_names_that_clash_with_module_attributes_work():
    tasks = [Task("type", "classification", 2), Task("train", "regression", 1)]
    model = mt.create_model("hps", backbone="mlp", tasks=tasks, in_channels=4)
    out = model(torch.randn(3, 4))
    assert out["type"].shape == (3, 2) and out["train"].shape == (3, 1)
