import pytest
import torch
import torch.nn.functional as F

import multitask as mt
from multitask.core.tasks import Task
from multitask.models.architectures.task_switching import FiLMBlock

BACKBONES = ["mlp", "lenet", "segnet", "resnet18", "unet"]
SMALL = {"embedding_dim": 6, "decoder_channels": 8}

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("task_switching", bb, config, **SMALL)


@pytest.mark.parametrize("bb", ["mlp", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("task_switching", bb, "three", **SMALL)


def test_one_task_per_forward(case_for):
    case = case_for("unet")
    tasks = case.configs["three"]
    model = case.build("task_switching", tasks, **SMALL).eval()
    x, _ = case.batch(tasks)
    every = model(x)
    for t in tasks:
        single = model(x, task=t.name)
        assert list(single) == [t.name]
        torch.testing.assert_close(single[t.name], every[t.name])
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        model(x, task="nope")


def test_the_decoder_is_shared_and_switched_by_the_embedding():
    """Two tasks of the same kind: with equal heads, the embedding alone decides the output."""
    torch.manual_seed(0)
    tasks = [Task("a", "regression", 3), Task("b", "regression", 3)]
    model = mt.create_model("task_switching", backbone="mlp", tasks=tasks, in_channels=5, **SMALL).eval()
    model.heads[1].load_state_dict(model.heads[0].state_dict())
    x = torch.randn(4, 5)
    out = model(x)
    assert not torch.allclose(out["a"], out["b"])  # different embeddings switch the decoder
    with torch.no_grad():
        ea, eb = model.embeddings[0].clone(), model.embeddings[1].clone()
        model.embeddings[0].copy_(eb)
        model.embeddings[1].copy_(ea)
    swapped = model(x)
    torch.testing.assert_close(swapped["a"], out["b"])
    torch.testing.assert_close(swapped["b"], out["a"])


def test_film_block_formula():
    """relu((1 + A_γ e) ⊙ BN(W h) + A_β e), BN in eval with fresh statistics (mean 0, var 1)."""
    torch.manual_seed(0)
    block = FiLMBlock(in_channels=3, out_channels=2, embedding_dim=4, spatial=True).eval()
    h, e = torch.randn(2, 3, 5, 5), torch.randn(4)
    gb = block.film(e)
    gamma, beta = 1 + gb[:2], gb[2:]
    y = F.conv2d(h, block.layer.weight, padding=1) / (1 + block.norm.eps) ** 0.5
    expected = F.relu(gamma[None, :, None, None] * y + beta[None, :, None, None])
    torch.testing.assert_close(block(h, e), expected)
    vec = FiLMBlock(in_channels=3, out_channels=2, embedding_dim=4, spatial=False).eval()
    hv = torch.randn(5, 3)
    gb = vec.film(e)
    yv = F.linear(hv, vec.layer.weight) / (1 + vec.norm.eps) ** 0.5
    torch.testing.assert_close(vec(hv, e), F.relu((1 + gb[:2]) * yv + gb[2:]))


def test_partition_puts_embeddings_with_their_task(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("task_switching", tasks, **SMALL)
    seg = [id(p) for p in model.task_parameters("seg")]
    assert seg[0] == id(model.embeddings[0])
    assert {id(p) for p in model.heads[0].parameters()} <= set(seg)
    shared = {id(p) for p in model.shared_parameters()}
    assert {id(p) for p in model.decoder.parameters()} <= shared  # decoder and FiLM generators
    assert {id(p) for p in model.backbone.parameters()} <= shared


def test_errors_and_no_shared_representation(case_for):
    case = case_for("segnet")
    tasks = case.configs["two"]
    model = case.build("task_switching", tasks, **SMALL)
    assert not model.has_shared_representation  # the shared decoder differs per task
    with pytest.raises(NotImplementedError, match="no single shared representation"):
        model.encode(case.batch(tasks)[0])
    with pytest.raises(ValueError, match="task 'seg' is dense"):
        mt.create_model(
            "task_switching", backbone="mlp", tasks=[Task("seg", "segmentation", 2)], in_channels=3
        )
    with pytest.raises(ValueError, match="needs a backbone"):
        mt.create_model("task_switching", backbone=None, tasks=tasks)
    with pytest.raises(ValueError, match="decoder_depth"):
        case.build("task_switching", tasks, decoder_depth=0)
