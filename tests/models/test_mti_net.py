import pytest
import torch

import multitask as mt
from multitask.core.tasks import Task
from multitask.models.architectures._distill import FeaturePropagation

BACKBONES = ["segnet", "resnet18", "resnet50", "unet"]
SMALL = {"task_channels": 8}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    def deep_supervision(model, tasks, out):
        # one intermediate prediction per task and scale
        for t in tasks:
            assert len(model.aux_outputs[t.name]) == model.num_scales
            assert all(a.shape == out[t.name].shape for a in model.aux_outputs[t.name])

    check_architecture("mti_net", bb, config, extra=deep_supervision, **SMALL)


@pytest.mark.parametrize("bb", ["unet", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("mti_net", bb, "three", **SMALL)


def test_scale_structure(case_for):
    seg = case_for("segnet").build("mti_net", case_for("segnet").configs["two"], **SMALL)
    assert seg.num_scales == 4  # the paper's four scales out of SegNet's five decoder stages
    unet = case_for("unet")
    model = unet.build("mti_net", unet.configs["three"], **SMALL)
    stages = model.backbone.stage_channels  # depth-2 U-Net: 3 stages, finest first
    assert model.num_scales == 3 and len(model.fpm) == 2 and len(model.se[0]) == 2
    # coarser scales hand their propagated task features (8 channels) to the next finer scale
    for s in range(3):
        extra = 8 if s < 2 else 0
        assert model.refine[0][s][0].conv1.in_channels == stages[s] + extra
    assert {id(p) for p in model.fpm.parameters()} <= {id(p) for p in model.shared_parameters()}
    assert {id(p) for p in model.se[2].parameters()} <= {id(p) for p in model.task_parameters("pose")}
    assert [f.softmax for f in model.fpm] == ["tasks", "tasks"]
    ref = unet.build("mti_net", unet.configs["three"], fpm_softmax="consecutive", **SMALL)
    assert [f.softmax for f in ref.fpm] == ["consecutive", "consecutive"]
    with pytest.raises(ValueError, match="mti_net: fpm_softmax"):
        unet.build("mti_net", unet.configs["three"], fpm_softmax="task", **SMALL)


def test_coarse_scales_reach_the_finest_prediction(case_for):
    """Feature propagation: the coarsest scale's task features influence the finest intermediate output."""
    case = case_for("unet")
    tasks = case.configs["two"]
    model = case.build("mti_net", tasks, **SMALL).eval()
    x, _ = case.batch(tasks)
    model(x)
    finest, coarsest = model.aux_outputs["seg"][0].clone(), model.aux_outputs["seg"][-1].clone()
    with torch.no_grad():
        for p in model.refine[0][-1].parameters():  # task seg, coarsest scale
            p.add_(0.5)
    model(x)
    assert not torch.allclose(model.aux_outputs["seg"][0], finest)
    assert not torch.allclose(model.aux_outputs["seg"][-1], coarsest)


def test_feature_propagation_with_one_task_is_the_reduction():
    """softmax over a single task is 1, so the FPM reduces to g(F)."""
    torch.manual_seed(0)
    fpm = FeaturePropagation(num_tasks=1, channels=4).eval()
    f = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(fpm([f]), fpm.reduce(f))
    fpm3 = FeaturePropagation(num_tasks=3, channels=4).eval()
    assert fpm3([f, f * 2, -f]).shape == (2, 4, 5, 5)


def test_no_single_shared_representation(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("mti_net", tasks, **SMALL)
    assert not model.has_shared_representation  # the shared FPMs act after the backbone
    with pytest.raises(NotImplementedError, match="no single shared representation"):
        model.encode(case.batch(tasks)[0])


def test_errors_name_the_field(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    with pytest.raises(ValueError, match="num_scales=2 leaves the backbone's last blocks unused"):
        case.build("mti_net", tasks, num_scales=2, **SMALL)
    with pytest.raises(ValueError, match="num_scales=5 but the backbone has 4 stages"):
        case.build("mti_net", tasks, num_scales=5, **SMALL)
    with pytest.raises(ValueError, match="mti_net: needs a convolutional backbone"):
        mt.create_model("mti_net", backbone="mlp", tasks=[Task("a", "regression", 1)], in_channels=3)


@pytest.mark.parametrize("grouping", ["tasks", "consecutive"])
def test_fpm_softmax_grouping(grouping):
    """'tasks': softmax over the T tasks at each channel; 'consecutive': the authors' code's
    view(B, TC/T, T, H, W), i.e. over T consecutive channels of the task-major concatenation."""
    torch.manual_seed(0)
    t, c = 3, 4
    fpm = FeaturePropagation(num_tasks=t, channels=c, softmax=grouping).eval()
    feats = [torch.randn(2, c, 5, 5) for _ in range(t)]
    concat = torch.cat(feats, dim=1)
    logits = fpm.non_linear(concat)
    mask = torch.empty_like(logits)
    for ch in range(c):  # re-derive the groups channel by channel
        for j in range(t):
            if grouping == "tasks":
                group = [k * c + ch for k in range(t)]
            else:
                group = [(ch * t + j) // t * t + k for k in range(t)]  # block of T consecutive channels
            own = group[j] if grouping == "tasks" else ch * t + j
            e = torch.exp(logits[:, group])
            mask[:, own] = e[:, group.index(own)] / e.sum(dim=1)
    torch.testing.assert_close(fpm(feats), fpm.reduce(mask * concat))
    with pytest.raises(ValueError, match="softmax must be one of"):
        FeaturePropagation(num_tasks=t, channels=c, softmax="rows")
