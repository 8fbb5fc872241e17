import pytest
import torch
from torch import nn

import multitask as mt
from multitask.methods.base import GradientMethod


class FixedWeights(GradientMethod):
    """Test double: a Gramian method with fixed weights."""

    needs = "gramian"

    def __init__(self, w):
        super().__init__()
        self.w = torch.as_tensor(w)

    def weights(self, gramian, losses=None):
        return self.w.to(gramian)


class FirstRow(GradientMethod):
    """Test double: a Jacobian method returning the first task's gradient."""

    def direction(self, jacobian, losses=None):
        return jacobian[0].clone()


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def make_problem(seed=0, tasks=3, dtype=torch.float64, device="cpu"):
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5)).to(device, dtype)
    heads = nn.ModuleList([nn.Linear(5, 1) for _ in range(tasks)]).to(device, dtype)
    x = torch.randn(8, 4, dtype=dtype, device=device)
    ys = [torch.randn(8, 1, dtype=dtype, device=device) for _ in range(tasks)]

    def losses(return_z=False):
        z = enc(x)
        ls = {f"t{i}": ((h(z) - y) ** 2).mean() for i, (h, y) in enumerate(zip(heads, ys))}
        return (ls, z) if return_z else ls

    return enc, heads, losses


def grads(module):
    return [p.grad.clone() if p.grad is not None else None for p in module.parameters()]


def manual(enc, heads, losses, w):
    """Reference: shared grad = Σ wₜ ∇Lₜ, head t grad = ∇Lₜ (one autograd.grad per task)."""
    ls = losses()
    shared = list(enc.parameters())
    ref_shared = [torch.zeros_like(p) for p in shared]
    ref_heads = []
    for i, loss in enumerate(ls.values()):
        g = torch.autograd.grad(loss, shared + list(heads[i].parameters()), retain_graph=True)
        for acc, gi in zip(ref_shared, g[: len(shared)]):
            acc.add_(w[i] * gi)
        ref_heads.extend(g[len(shared) :])
    return ref_shared, ref_heads


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("strategy", ["loop", "batched", "auto"])
def test_parameters_mode_matches_manual(strategy, device):
    enc, heads, losses = make_problem(device=device)
    w = [0.2, 0.5, 1.3]
    ref_shared, ref_heads = manual(enc, heads, losses, w)
    info = mt.backward(losses(), FixedWeights(w), shared=enc.parameters(), strategy=strategy)
    for got, ref in zip(grads(enc), ref_shared):
        torch.testing.assert_close(got, ref)
    for got, ref in zip(grads(heads), ref_heads):
        torch.testing.assert_close(got, ref)
    assert info.mode == "parameters"
    torch.testing.assert_close(info.weights, torch.tensor(w, dtype=torch.float64, device=device))
    assert all(p.grad.device.type == device for p in enc.parameters())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("strategy", ["loop", "batched"])
def test_features_mode_matches_weighted_sum_through_encoder(strategy, device):
    enc, heads, losses = make_problem(device=device)
    w = [0.2, 0.5, 1.3]
    ref_shared, ref_heads = manual(enc, heads, losses, w)
    ls, z = losses(return_z=True)
    info = mt.backward(ls, FixedWeights(w), shared=enc.parameters(), features=z, strategy=strategy)
    for got, ref in zip(grads(enc), ref_shared):
        torch.testing.assert_close(got, ref)
    for got, ref in zip(grads(heads), ref_heads):
        torch.testing.assert_close(got, ref)
    assert info.mode == "features"
    assert info.cosines.shape == (3, 3)


def test_jacobian_method_direction_goes_to_shared():
    enc, heads, losses = make_problem()
    ref_shared, _ = manual(enc, heads, losses, [1.0, 0.0, 0.0])
    mt.backward(losses(), FirstRow(), shared=enc.parameters())
    for got, ref in zip(grads(enc), ref_shared):
        torch.testing.assert_close(got, ref)


def test_ew_equals_plain_backward_and_accumulates():
    enc, heads, losses = make_problem()
    sum(losses().values()).backward()
    ref = grads(enc) + grads(heads)
    enc.zero_grad(set_to_none=True)
    heads.zero_grad(set_to_none=True)
    method = mt.create_method("ew")
    info = mt.backward(losses(), method, shared=enc.parameters())
    for got, r in zip(grads(enc) + grads(heads), ref):
        torch.testing.assert_close(got, r)
    mt.backward(losses(), method, shared=enc.parameters())
    for got, r in zip(grads(enc) + grads(heads), ref):
        torch.testing.assert_close(got, 2 * r)
    assert info.mode == "loss" and method.step_count == 2


def test_step_info_norms_and_cosines():
    enc, heads, losses = make_problem()
    ls = losses()
    shared = list(enc.parameters())
    rows = []
    for loss in ls.values():
        rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, shared, retain_graph=True)]))
    j = torch.stack(rows)
    info = mt.backward(ls, FixedWeights([1.0, 1.0, 1.0]), shared=shared)
    torch.testing.assert_close(info.grad_norms, j.norm(dim=1))
    torch.testing.assert_close(info.cosines[0, 1], torch.nn.functional.cosine_similarity(j[0], j[1], dim=0))
    record = info.as_dict()
    assert set(record) >= {"loss/t0", "weight/t2", "grad_norm/t1", "cos/t0/t1"}


def test_sequence_losses_and_retain_graph():
    enc, heads, losses = make_problem()
    ls = list(losses().values())
    info = mt.backward(ls, FixedWeights([1.0, 1.0, 1.0]), shared=enc.parameters(), retain_graph=True)
    assert info.task_names == ["0", "1", "2"]
    mt.backward(ls, FixedWeights([1.0, 1.0, 1.0]), shared=enc.parameters())


@pytest.mark.parametrize(
    "method, mode",
    [("ew", "loss"), ("fixed", "parameters"), ("fixed", "features"), ("first_row", "parameters"),
     ("first_row", "features")],
)  # fmt: skip
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_names_the_task(method, mode, bad):
    """A gradient method's losses are checked together with its Jacobian (one device synchronisation):
    the error is still the loss's, and nothing reaches ``.grad``."""
    enc, heads, losses = make_problem()
    ls, z = losses(return_z=True)
    ls["t1"] = ls["t1"] * bad
    m = {"ew": lambda: mt.create_method("ew"), "fixed": lambda: FixedWeights([1.0, 1.0, 1.0]),
         "first_row": FirstRow}[method]()  # fmt: skip
    with pytest.raises(ValueError, match="the loss of task 't1' is not finite"):
        mt.backward(ls, m, shared=enc.parameters(), features=z if mode == "features" else None)
    assert all(p.grad is None for p in enc.parameters())


def test_bad_inputs_give_clear_errors():
    enc, heads, losses = make_problem()
    ew = mt.create_method("ew")
    with pytest.raises(ValueError, match="empty"):
        mt.backward({}, ew, shared=enc.parameters())
    ls = losses()
    with pytest.raises(ValueError, match="'bad'.*scalar"):
        mt.backward({"bad": torch.ones(2, requires_grad=True)}, ew, shared=enc.parameters())
    unused = nn.Parameter(torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"no task loss depends on shared parameters \[4\]"):
        mt.backward(ls, FixedWeights([1.0, 1.0, 1.0]), shared=[*enc.parameters(), unused])
    ls, z = losses(return_z=True)
    with pytest.raises(ValueError, match="features mode does not apply"):
        mt.backward(ls, ew, shared=enc.parameters(), features=z)
    other = torch.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"do not depend on features\[0\]"):
        mt.backward(ls, FixedWeights([1.0, 1.0, 1.0]), shared=enc.parameters(), features=other)
    with pytest.raises(TypeError, match="Method"):
        mt.backward(ls, object(), shared=enc.parameters())


def test_features_mode_rejects_shared_used_by_heads():
    enc, heads, losses = make_problem()
    ls, z = losses(return_z=True)
    with pytest.raises(ValueError, match="used by the task heads directly"):
        mt.backward(
            ls, FixedWeights([1.0, 1.0, 1.0]), shared=[*enc.parameters(), *heads[0].parameters()], features=z
        )


def test_aggregate_rejects_bad_jacobians():
    m = FixedWeights([1.0, 1.0])
    with pytest.raises(ValueError, match=r"shape \[T, n\]"):
        m.aggregate(torch.ones(3))
    with pytest.raises(ValueError, match="non-finite.*rows \\[1\\]"):
        m.aggregate(torch.tensor([[1.0, 2.0], [float("inf"), 0.0]]))
    torch.testing.assert_close(m.aggregate(torch.tensor([[1.0, 2.0], [3.0, 4.0]])), torch.tensor([4.0, 6.0]))


def test_non_finite_gradient_names_the_task():
    w = nn.Parameter(torch.ones(3, dtype=torch.float64))
    head = nn.Parameter(torch.ones(1, dtype=torch.float64))
    losses = {"a": (w**2).sum() * head.sum(), "b": torch.sqrt((w - 1.0).abs().sum())}  # d sqrt(0) = inf
    assert torch.isfinite(losses["b"])
    with pytest.raises(ValueError, match=r"non-finite gradients for tasks \['b'\]"):
        mt.backward(losses, FixedWeights([1.0, 1.0]), shared=[w])


class NaNDirection(GradientMethod):
    """Test double: a Jacobian method whose direction is not finite."""

    def direction(self, jacobian, losses=None):
        return jacobian[0] * float("nan")


def test_aggregate_and_backward_take_the_same_step():
    """Standalone ``aggregate`` and ``multitask.backward`` go through one step of the method
    (``GradientMethod.combine_blocks``): same weights recorded, one step counted, and the same refusal
    of a non-finite direction, which counts no step."""
    from multitask.core.jacobian import jacobian

    enc, heads, losses = make_problem()
    shared = list(enc.parameters())
    full = jacobian(list(losses().values()), shared, strategy="loop")
    via_backward, standalone = FixedWeights([0.2, 0.3, 0.5]), FixedWeights([0.2, 0.3, 0.5])
    mt.backward(losses(), via_backward, shared=shared)
    d = standalone.aggregate(full)
    assert via_backward.step_count == standalone.step_count == 1
    torch.testing.assert_close(via_backward.last_weights, standalone.last_weights)
    torch.testing.assert_close(torch.cat([p.grad.reshape(-1) for p in shared]), d)
    for call in (lambda m: m.aggregate(full), lambda m: mt.backward(losses(), m, shared=shared)):
        bad = NaNDirection()
        with pytest.raises(ValueError, match="NaNDirection produced a non-finite direction"):
            call(bad)
        assert bad.step_count == 0


def test_loss_weightings_take_the_same_step_standalone_and_in_backward():
    enc, heads, losses = make_problem()
    via_backward, standalone = mt.create_method("dwa"), mt.create_method("dwa")
    info = mt.backward(losses(), via_backward, shared=enc.parameters())
    standalone.combine(torch.stack(list(losses().values())), list(losses()))
    assert via_backward.step_count == standalone.step_count == 1
    torch.testing.assert_close(info.weights, standalone.last_weights)
    torch.testing.assert_close(via_backward.last_weights, standalone.last_weights)
