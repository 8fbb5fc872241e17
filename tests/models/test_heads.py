import pytest
import torch
import torch.nn.functional as F

from multitask.core.tasks import Task
from multitask.models.heads import create_head, list_heads
from multitask.models.heads.aspp import ASPPHead
from multitask.models.heads.conv import ConvHead
from multitask.models.heads.linear import LinearHead, MLPHead

torch.manual_seed(0)


def test_default_kind_follows_task_kind():
    assert set(list_heads()) == {"linear", "mlp", "conv", "aspp", "segnet"}
    for kind in ("classification", "binary", "multilabel", "regression"):
        assert isinstance(create_head(Task("t", kind, 3), 8), LinearHead)
    for kind in ("segmentation", "depth", "normals", "edges"):
        assert isinstance(create_head(Task("t", kind, 3), 8), ConvHead)


def test_linear_head_pools_maps_then_applies_the_layer():
    head = create_head(Task("c", "classification", 5), 6)
    z = torch.randn(2, 6, 3, 4)
    expected = F.linear(z.mean(dim=(2, 3)), head.fc.weight, head.fc.bias)
    torch.testing.assert_close(head(z), expected)
    v = torch.randn(2, 6)
    torch.testing.assert_close(head(v), F.linear(v, head.fc.weight, head.fc.bias))
    assert create_head(Task("r", "regression", 2), 6)(v).shape == (2, 2)


def test_mlp_head_is_sener_koltun_decoder():
    head = create_head(Task("c", "classification", 10), 50, kind="mlp")
    assert isinstance(head, MLPHead)
    assert sum(p.numel() for p in head.parameters()) == 50 * 50 + 50 + 50 * 10 + 10
    assert head(torch.randn(3, 50)).shape == (3, 10)


def test_conv_head_keeps_resolution_and_structure():
    head = create_head(Task("s", "segmentation", 7), 16)
    z = torch.randn(2, 16, 5, 6)
    assert head(z).shape == (2, 7, 5, 6)
    convs = [m for m in head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (1, 1)]
    assert convs[0].out_channels == 16 and convs[1].out_channels == 7
    big = create_head(Task("d", "depth", 1), 1024)
    assert next(m for m in big.modules() if isinstance(m, torch.nn.Conv2d)).out_channels == 256
    with pytest.raises(ValueError, match="conv"):
        head(torch.randn(2, 16))


def test_segnet_head_is_mtans_prediction_layers():
    """MTAN's pred_task: conv3x3(in -> in) then conv1x1(in -> out), biases, nothing in between."""
    head = create_head(Task("s", "segmentation", 13), 8, kind="segnet")
    assert sum(p.numel() for p in head.parameters()) == (8 * 8 * 9 + 8) + (8 * 13 + 13)
    z = torch.randn(2, 8, 5, 6)
    c3, c1 = head.net
    expected = F.conv2d(F.conv2d(z, c3.weight, c3.bias, padding=1), c1.weight, c1.bias)
    torch.testing.assert_close(head(z), expected)
    with pytest.raises(ValueError, match="does not fit"):
        create_head(Task("c", "classification", 3), 8, kind="segnet")


def test_aspp_head_branches_and_batch_of_one():
    head = create_head(Task("s", "segmentation", 4), 8, kind="aspp", channels=6, rates=(2, 3))
    assert isinstance(head, ASPPHead)
    dilations = [m.dilation for m in head.branches.modules() if isinstance(m, torch.nn.Conv2d)]
    assert dilations == [(1, 1), (2, 2), (3, 3)]
    head.train()
    out = head(torch.randn(1, 8, 9, 9))  # image pooling without BN trains on a batch of one
    assert out.shape == (1, 4, 9, 9)
    # 1x1 branch, 2 dilated 3x3 branches, pooling conv (with bias), projection, classifier
    expected = 8 * 6 + 12 + 2 * (9 * 8 * 6 + 12) + (8 * 6 + 6) + (4 * 6 * 6 + 12) + (6 * 4 + 4)
    assert sum(p.numel() for p in head.parameters()) == expected


def test_image_pooling_branch_sees_the_global_mean():
    head = create_head(Task("s", "segmentation", 2), 4, kind="aspp", channels=3, rates=(2,)).eval()
    z = torch.randn(1, 4, 6, 6)
    pooled = F.relu(head.pool_conv(z.mean(dim=(2, 3), keepdim=True)))
    feats = torch.cat([b(z) for b in head.branches] + [pooled.expand(-1, -1, 6, 6)], dim=1)
    torch.testing.assert_close(head(z), head.classifier(head.project(feats)))


def test_bad_head_requests_name_the_task():
    seg = Task("seg", "segmentation", 3)
    with pytest.raises(ValueError, match="task 'seg'.*'linear' does not fit"):
        create_head(seg, 8, kind="linear")
    with pytest.raises(ValueError, match="task 'cls'.*'aspp' does not fit"):
        create_head(Task("cls", "classification", 3), 8, kind="aspp")
    with pytest.raises(ValueError, match="unknown head 'fancy'"):
        create_head(seg, 8, kind="fancy")
    with pytest.raises(ValueError, match="task 'seg': head in_channels"):
        create_head(seg, 0)
    with pytest.raises(TypeError, match="expects a Task"):
        create_head("seg", 8)
