import pytest
import torch

BACKBONES = ["lenet", "mlp", "segnet", "resnet18", "resnet50", "unet"]


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("single_task", bb, config)


@pytest.mark.parametrize("bb", BACKBONES)
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("single_task", bb, "three")


def test_nothing_is_shared_and_tasks_are_independent(case_for):
    case = case_for("unet")
    tasks = case.configs["three"]
    model = case.build("single_task", tasks).eval()
    assert list(model.shared_parameters()) == []
    assert not model.has_shared_representation
    x, _ = case.batch(tasks)
    before = model(x)
    with torch.no_grad():
        for p in model.task_parameters("seg"):
            p.add_(1.0)
    after = model(x)
    assert not torch.allclose(after["seg"], before["seg"])
    for name in ("depth", "pose"):
        torch.testing.assert_close(after[name], before[name])


def test_fresh_initialisation_per_task(case_for):
    case = case_for("resnet18")
    model = case.build("single_task", case.configs["two"])
    w0 = model.backbones[0].blocks[0].conv1.weight
    w1 = model.backbones[1].blocks[0].conv1.weight
    assert w0.shape == w1.shape and not torch.equal(w0, w1)
