"""Optimizer-aware lookahead (TAG's official code) against the real optimizer step on deep copies."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from multitask.affinity import LookaheadAffinity, lookahead_affinity

TASKS = ["a", "b", "c"]
LOSS_FNS = {t: (lambda out, y, t=t: F.mse_loss(out[t], y[t])) for t in TASKS}
SHARED = ["enc.weight", "enc.bias"]


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(3, 4, dtype=torch.float64)
        self.heads = nn.ModuleDict({t: nn.Linear(4, 1, dtype=torch.float64) for t in TASKS})

    def forward(self, x):
        z = torch.tanh(self.enc(x))
        return {t: h(z).squeeze(-1) for t, h in self.heads.items()}


def make_batch(seed: int, n: int = 16):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    u = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 1.0
    return x, {"a": u, "b": u + 0.3 * torch.randn(n, generator=g, dtype=torch.float64), "c": -u}


def train_a_few_steps(model, opt, steps=3):
    for s in range(steps):
        x, y = make_batch(100 + s)
        opt.zero_grad()
        sum(LOSS_FNS[t](model(x), y) for t in TASKS).backward()
        opt.step()


def reference(model, opt, kwargs, batch):
    """Z by the real thing: deep copies of model and optimizer, .grad = task i's gradient on the shared
    weights only, optimizer.step(), losses after / before."""
    x, y = batch
    with torch.no_grad():
        before = [LOSS_FNS[t](model(x), y).item() for t in TASKS]
    z = torch.empty(3, 3, dtype=torch.float64)
    for i, ti in enumerate(TASKS):
        m2 = copy.deepcopy(model)
        o2 = type(opt)(m2.parameters(), **kwargs)
        state = copy.deepcopy(opt.state_dict())
        o2.load_state_dict(state)
        o2.zero_grad(set_to_none=True)
        loss = LOSS_FNS[ti](m2(x), y)
        grads = torch.autograd.grad(loss, [m2.enc.weight, m2.enc.bias])
        for p, g in zip([m2.enc.weight, m2.enc.bias], grads):
            p.grad = g
        o2.step()  # heads have no .grad: only the shared weights move
        with torch.no_grad():
            out = m2(x)
            for j, tj in enumerate(TASKS):
                z[i, j] = 1 - LOSS_FNS[tj](out, y).item() / before[j]
    return z


OPTIMIZERS = [
    (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    (torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
    (torch.optim.SGD, {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    (torch.optim.Adam, {"lr": 0.01}),
    (torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.05, "amsgrad": True}),
    (torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}),
]


@pytest.mark.parametrize(("cls", "kwargs"), OPTIMIZERS)
def test_optimizer_update_matches_the_real_optimizer_step(cls, kwargs):
    torch.manual_seed(0)
    model = Tiny()
    opt = cls(model.parameters(), **kwargs)
    train_a_few_steps(model, opt)
    batch = make_batch(7)
    state_before = copy.deepcopy(opt.state_dict())
    got = lookahead_affinity(model, LOSS_FNS, batch, SHARED, optimizer=opt).matrix
    torch.testing.assert_close(got, reference(model, opt, kwargs, batch), rtol=1e-9, atol=1e-12)
    # the optimizer's state is read, not written
    after = opt.state_dict()
    for k, st in state_before["state"].items():
        for name, v in st.items():
            assert torch.equal(torch.as_tensor(after["state"][k][name]), torch.as_tensor(v))
    # scale="lr": the official (1 - L'/L) / lr
    scaled = lookahead_affinity(model, LOSS_FNS, batch, SHARED, optimizer=opt, scale="lr").matrix
    torch.testing.assert_close(scaled, got / kwargs["lr"])


def test_first_step_without_state_is_the_plain_step_and_momentum_changes_the_answer():
    torch.manual_seed(1)
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    batch = make_batch(3)
    plain = lookahead_affinity(model, LOSS_FNS, batch, SHARED, 0.05, update="sgd").matrix
    fresh = lookahead_affinity(model, LOSS_FNS, batch, SHARED, optimizer=opt).matrix
    torch.testing.assert_close(fresh, plain)  # no momentum buffer yet: θ − η g, as in TAG's code
    train_a_few_steps(model, opt)
    plain = lookahead_affinity(model, LOSS_FNS, batch, SHARED, optimizer=opt, update="sgd").matrix
    aware = lookahead_affinity(model, LOSS_FNS, batch, SHARED, optimizer=opt).matrix
    assert (plain - aware).abs().max() > 1e-3
    torch.testing.assert_close(
        aware, reference(model, opt, {"lr": 0.05, "momentum": 0.9}, batch), rtol=1e-9, atol=1e-12
    )


def test_plain_sgd_with_the_optimizers_learning_rates():
    torch.manual_seed(2)
    model = Tiny()
    opt = torch.optim.Adam(
        [{"params": [model.enc.weight], "lr": 0.02}, {"params": [model.enc.bias], "lr": 0.01}]
    )
    x, y = make_batch(5)
    got = lookahead_affinity(model, LOSS_FNS, (x, y), SHARED, optimizer=opt, update="sgd").matrix
    before = [LOSS_FNS[t](model(x), y).item() for t in TASKS]
    for i, ti in enumerate(TASKS):
        m2 = copy.deepcopy(model)
        gw, gb = torch.autograd.grad(LOSS_FNS[ti](m2(x), y), [m2.enc.weight, m2.enc.bias])
        with torch.no_grad():
            m2.enc.weight -= 0.02 * gw
            m2.enc.bias -= 0.01 * gb
            for j, tj in enumerate(TASKS):
                assert got[i, j].item() == pytest.approx(
                    1 - LOSS_FNS[tj](m2(x), y).item() / before[j], rel=1e-9
                )
    with pytest.raises(ValueError, match="one learning rate"):
        lookahead_affinity(model, LOSS_FNS, (x, y), SHARED, optimizer=opt, update="sgd", scale="lr")


def test_every_k_steps_and_state():
    torch.manual_seed(3)
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    acc = LookaheadAffinity(model, LOSS_FNS, SHARED, optimizer=opt, every=3)
    measured = []
    for s in range(7):
        batch = make_batch(s)
        z = acc.step(batch)
        if z is not None:
            measured.append((s, z.matrix))
        opt.zero_grad()
        x, y = batch
        sum(LOSS_FNS[t](model(x), y) for t in TASKS).backward()
        opt.step()
    assert [s for s, _ in measured] == [0, 3, 6]
    mean = torch.stack([m for _, m in measured]).mean(0)
    torch.testing.assert_close(acc.compute().matrix, mean)
    state = acc.state_dict()
    other = LookaheadAffinity(model, LOSS_FNS, SHARED, optimizer=opt, every=3)
    other.load_state_dict(state)
    assert other.calls == 7 and other.num_steps == 3


def test_errors():
    model = Tiny()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = make_batch(0)
    with pytest.raises(ValueError, match="needs the training optimizer"):
        lookahead_affinity(model, LOSS_FNS, batch, SHARED, 0.1, update="optimizer")
    with pytest.raises(ValueError, match="do not pass lr"):
        lookahead_affinity(model, LOSS_FNS, batch, SHARED, 0.1, optimizer=sgd, update="optimizer")
    with pytest.raises(ValueError, match="pass lr"):
        lookahead_affinity(model, LOSS_FNS, batch, SHARED)
    with pytest.raises(ValueError, match="update must be one of"):
        lookahead_affinity(model, LOSS_FNS, batch, SHARED, 0.1, update="adam")
    with pytest.raises(ValueError, match="scale must be one of"):
        lookahead_affinity(model, LOSS_FNS, batch, SHARED, 0.1, scale="log")
    with pytest.raises(TypeError, match="supports torch.optim.SGD, Adam and AdamW, not RMSprop"):
        lookahead_affinity(model, LOSS_FNS, batch, SHARED, optimizer=torch.optim.RMSprop(model.parameters()))
    with pytest.raises(ValueError, match="not in the optimizer"):
        lookahead_affinity(
            model, LOSS_FNS, batch, SHARED, optimizer=torch.optim.SGD(model.heads.parameters(), 0.1)
        )
    with pytest.raises(ValueError, match="every must be an int >= 1"):
        LookaheadAffinity(model, LOSS_FNS, SHARED, lr=0.1, every=0)
