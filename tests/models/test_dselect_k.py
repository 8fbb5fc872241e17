import math

import numpy as np
import pytest
import torch

import multitask as mt
from multitask.core.tasks import Task
from multitask.models.architectures._dselect_gate import (
    ENTROPY_EPS,
    DSelectKGate,
    binary_codes,
    selector_entropy,
    selector_outputs,
    smooth_step,
)

BACKBONES = ["mlp", "lenet", "resnet18", "unet"]
SMALL = {"num_experts": 4, "k": 2, "expert_channels": 8}

pytestmark = pytest.mark.usefixtures("one_thread")


# ---- the gate, against hand-worked values ------------------------------------------------------
def test_smooth_step_hand_values():
    t = torch.tensor([-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.7], dtype=torch.float64)
    # gamma = 1: -2t^3 + 1.5t + 0.5 on [-0.5, 0.5]
    expected = torch.tensor([0.0, 0.0, 0.15625, 0.5, 0.84375, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(smooth_step(t, 1.0), expected)
    # gamma = 2 rescales: S_2(t) = S_1(t / 2)
    torch.testing.assert_close(smooth_step(t, 2.0), smooth_step(t / 2, 1.0))
    # C1 at the joints: the slope of the cubic vanishes at +-gamma/2
    x = torch.tensor([-0.5, 0.5], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(smooth_step(x * 0.999999, 1.0).sum(), x)
    assert g.abs().max() < 1e-5


def test_binary_codes():
    assert binary_codes(4).int().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert binary_codes(3).int().tolist() == [[0, 0], [0, 1], [1, 0]]
    assert binary_codes(5).shape == (5, 3)
    assert binary_codes(2).int().tolist() == [[0], [1]]


def test_selector_picks_the_encoded_expert_exactly():
    codes = binary_codes(4)
    z = torch.tensor([[2.0, -2.0], [0.0, 0.0]])  # selector 0 saturated at bits (1, 0) = expert 2
    r = selector_outputs(z, codes, gamma=1.0)
    assert r[0].tolist() == [0.0, 0.0, 1.0, 0.0]
    torch.testing.assert_close(r[1], torch.full((4,), 0.25))
    # mixed: S(0.25) = 0.84375 on bit 0, bit 1 saturated at 1 -> experts 1 and 3
    r = selector_outputs(torch.tensor([[0.25, 3.0]]), codes, gamma=1.0)
    torch.testing.assert_close(r[0], torch.tensor([0.0, 1 - 0.84375, 0.0, 0.84375]))


def test_selectors_are_distributions_when_n_is_a_power_of_two():
    torch.manual_seed(0)
    r = selector_outputs(torch.randn(6, 3, 3) * 0.4, binary_codes(8), gamma=1.0)
    assert r.shape == (6, 3, 8) and (r >= 0).all()
    torch.testing.assert_close(r.sum(-1), torch.ones(6, 3))


def test_entropy_and_regulariser_hand_values():
    uniform = torch.full((1, 2, 4), 0.25)  # batch 1, k = 2 selectors, n = 4
    expected = -2 * 4 * 0.25 * math.log(0.25 + ENTROPY_EPS)
    torch.testing.assert_close(selector_entropy(uniform), torch.tensor([expected]))
    gate = DSelectKGate(num_experts=4, k=2, gamma=1.0, in_features=None)
    torch.testing.assert_close(gate.regularization(uniform, 0.1), torch.tensor(0.1 * expected))
    # n = 3 is not a power of two: z = 0 gives 0.25 to each reachable expert, 0.75 in all,
    # so each of the k = 2 selectors adds 1 / 0.75
    gate3 = DSelectKGate(num_experts=3, k=2, gamma=1.0, in_features=None)
    with torch.no_grad():
        gate3.z_logits.zero_()
    _, sel = gate3(torch.zeros(1, 1))
    torch.testing.assert_close(sel, torch.full((1, 2, 3), 0.25))
    ent = -2 * 3 * 0.25 * math.log(0.25 + ENTROPY_EPS)
    torch.testing.assert_close(gate3.regularization(sel, 0.5), torch.tensor(0.5 * ent + 2 / 0.75))


def test_regulariser_sums_over_the_batch_like_the_reference():
    """google-research dselect_k_moe: add_loss(λ · -reduce_sum(r log(r + 1e-6))) and, for n not a power
    of 2, add_loss(reduce_sum(1 / reduce_sum(r, -1))), both over every axis (batch included)."""
    torch.manual_seed(0)
    lam = 0.3
    gate = DSelectKGate(num_experts=5, k=2, gamma=1.0, in_features=4)
    with torch.no_grad():
        gate.z_layer.weight.mul_(50)  # selectors far from uniform, different per example
    _, sel = gate(torch.randn(6, 4))
    r = sel.detach().double().numpy()
    reference = lam * -(r * np.log(r + 1e-6)).sum() + (1.0 / r.sum(axis=-1)).sum()
    assert gate.regularization(sel, lam).item() == pytest.approx(reference, rel=1e-5)
    # = batch size x the per-example mean: the rule the toolkit used before
    per_example = [gate.regularization(sel[b : b + 1], lam) for b in range(6)]
    torch.testing.assert_close(gate.regularization(sel, lam), 6 * torch.stack(per_example).mean())
    # a static gate has no batch axis in the reference: the same value for any batch size
    static = DSelectKGate(num_experts=5, k=2, gamma=1.0, in_features=None)
    _, s1 = static(torch.zeros(1, 1))
    _, s6 = static(torch.zeros(6, 1))
    r1 = s1[0].detach().double().numpy()
    static_ref = lam * -(r1 * np.log(r1 + 1e-6)).sum() + (1.0 / r1.sum(axis=-1)).sum()
    assert static.regularization(s6, lam).item() == pytest.approx(static_ref, rel=1e-5)


def test_gate_weights_static_vs_per_example():
    torch.manual_seed(0)
    static = DSelectKGate(num_experts=8, k=3, gamma=1.0, in_features=None)
    w, sel = static(torch.randn(5, 7))
    assert w.shape == (5, 8) and sel.shape == (5, 3, 8)
    torch.testing.assert_close(w, w[:1].expand(5, -1))  # task-only gate: the same for every example
    torch.testing.assert_close(w.sum(1), torch.ones(5))
    per = DSelectKGate(num_experts=8, k=3, gamma=1.0, in_features=7)
    with torch.no_grad():
        per.z_layer.weight.mul_(300)  # make the routing visibly input-dependent
    w, _ = per(torch.randn(5, 7))
    torch.testing.assert_close(w.sum(1), torch.ones(5))
    assert not torch.allclose(w, w[:1].expand(5, -1))


def test_entropy_regulariser_drives_the_gate_to_exactly_k_experts():
    """Minimising the entropy saturates every smooth step: at most k non-zero weights, exactly."""
    torch.manual_seed(0)
    gate = DSelectKGate(num_experts=8, k=2, gamma=1.0, in_features=None)
    opt = torch.optim.SGD(gate.parameters(), lr=0.5)
    x = torch.zeros(1, 1)
    for _ in range(200):
        opt.zero_grad()
        _, sel = gate(x)
        gate.regularization(sel, 1.0).backward()
        opt.step()
    w, sel = gate(x)
    assert ((sel == 0) | (sel == 1)).all()
    assert 1 <= int((w > 0).sum()) <= 2
    torch.testing.assert_close(w.sum(), torch.tensor(1.0))


# ---- the architecture -----------------------------------------------------------------------------
@pytest.mark.parametrize("config", ["two", "three", "five"])
@pytest.mark.parametrize("bb", BACKBONES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("dselect_k", bb, config, **SMALL)


@pytest.mark.parametrize("per_example", [True, False])
@pytest.mark.parametrize("config", ["two", "three", "five"])
def test_vector_input_without_backbone(config, per_example, check_vector_architecture):
    check_vector_architecture("dselect_k", config, per_example=per_example, **SMALL)


@pytest.mark.parametrize("bb", ["mlp", "resnet18"])
def test_training_with_the_regulariser_lowers_loss(bb, case_for):
    case = case_for(bb)
    tasks = case.configs["three"]
    model = case.build("dselect_k", tasks, entropy_reg=1e-3, **{**SMALL, "num_experts": 3})
    x, y = case.batch(tasks, batch=4)
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def objective():
        out = model(x)
        return sum(t.loss(out[t.name], y[t.name]) for t in tasks) + model.regularization()

    first = objective()
    for _ in range(12):
        opt.zero_grad()
        objective().backward()
        opt.step()
    assert objective().item() < 0.8 * first.item()


def test_regularization_before_and_after_forward():
    torch.manual_seed(0)
    tasks = [Task("a", "regression", 1), Task("b", "regression", 1)]
    model = mt.create_model("dselect_k", tasks=tasks, in_channels=3, num_experts=4, k=2, entropy_reg=0.5)
    assert model.regularization().item() == 0.0
    model(torch.randn(4, 3))
    reg = model.regularization()
    expected = sum(g.regularization(s, 0.5) for g, s in zip(model.gates, model._selectors))
    torch.testing.assert_close(reg, expected)
    # near initialisation every selector is almost uniform over 4 experts: entropy ~ k log 4 per
    # example and task, summed over the batch of 4 and the 2 tasks
    torch.testing.assert_close(reg, torch.tensor(0.5 * 4 * 2 * 2 * math.log(4)), atol=8e-2, rtol=0)
    reg.backward()
    assert model.gates[0].z_layer.weight.grad is not None
    assert all(p.grad is None for p in model.experts.parameters())


def test_errors_name_the_field():
    t = [Task("a", "regression", 1)]
    with pytest.raises(ValueError, match="k must be <= num_experts"):
        mt.create_model("dselect_k", tasks=t, in_channels=3, num_experts=4, k=5)
    with pytest.raises(ValueError, match="num_experts must be >= 2"):
        mt.create_model("dselect_k", tasks=t, in_channels=3, num_experts=1, k=1)
    with pytest.raises(ValueError, match="gamma"):
        mt.create_model("dselect_k", tasks=t, in_channels=3, gamma=0.0)
    with pytest.raises(ValueError, match="entropy_reg"):
        mt.create_model("dselect_k", tasks=t, in_channels=3, entropy_reg=-1.0)
