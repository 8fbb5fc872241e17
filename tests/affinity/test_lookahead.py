import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import multitask as mt
from multitask.affinity import LookaheadAffinity, TaskAffinity, lookahead_affinity

TASKS = ["a", "b", "c"]


class Tiny(nn.Module):
    """Shared linear encoder + one scalar head per task (float64)."""

    def __init__(self, bn: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.enc = nn.Linear(3, 4, dtype=torch.float64)
        self.bn = nn.BatchNorm1d(4, dtype=torch.float64) if bn else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({t: nn.Linear(4, 1, dtype=torch.float64) for t in TASKS})
        with torch.no_grad():  # identical heads: the tasks differ only through their targets
            for t in TASKS[1:]:
                self.heads[t].load_state_dict(self.heads["a"].state_dict())

    def forward(self, x):
        z = self.drop(self.bn(torch.tanh(self.enc(x))))
        return {t: h(z).squeeze(-1) for t, h in self.heads.items()}


LOSS_FNS = {t: (lambda out, y, t=t: F.mse_loss(out[t], y[t])) for t in TASKS}
SHARED = ["enc.weight", "enc.bias"]


def make_batch(seed: int = 0, n: int = 16):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    u = x @ torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64) + 1.0
    # a and b: equal targets (positive transfer); c: the opposite target (negative transfer)
    return x, {"a": u, "b": u.clone(), "c": -u}


def reference(model, batch, lr):
    """Explicit parameter copies: one deep copy per task, a manual SGD step on its shared weights."""
    x, y = batch
    before = torch.tensor([LOSS_FNS[t](model(x), y).item() for t in TASKS], dtype=torch.float64)
    z = torch.empty(3, 3, dtype=torch.float64)
    for i, ti in enumerate(TASKS):
        clone = copy.deepcopy(model)
        shared = [clone.enc.weight, clone.enc.bias]
        grads = torch.autograd.grad(LOSS_FNS[ti](clone(x), y), shared)
        with torch.no_grad():
            for p, g in zip(shared, grads):
                p -= lr * g
            out = clone(x)
            for j, tj in enumerate(TASKS):
                z[i, j] = 1 - LOSS_FNS[tj](out, y).item() / before[j]
    return z


def test_matches_explicit_copies_and_has_the_constructed_signs():
    torch.manual_seed(0)
    model = Tiny()
    batch = make_batch()
    got = lookahead_affinity(model, LOSS_FNS, batch, SHARED, 0.1)
    assert isinstance(got, TaskAffinity) and got.task_names == tuple(TASKS) and got.kind == "lookahead"
    torch.testing.assert_close(got.matrix, reference(model, batch, 0.1), rtol=1e-10, atol=1e-12)
    z = got.matrix
    assert z[0, 1] > 0 and z[1, 0] > 0  # equal targets help each other
    assert z[0, 2] < 0 and z[2, 0] < 0 and z[1, 2] < 0  # opposite targets hurt each other
    assert torch.all(z.diagonal() > 0)  # a step on a task lowers its own loss (small lr)
    # equal targets and identical heads: a step on a is exactly a step on b
    torch.testing.assert_close(z[0], z[1])


def test_model_is_not_modified_and_grads_untouched():
    torch.manual_seed(1)
    model = Tiny(bn=True).train()
    before = copy.deepcopy(model.state_dict())
    rng = torch.get_rng_state()
    lookahead_affinity(model, LOSS_FNS, make_batch(1), SHARED, 0.05)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # batch-norm running statistics included
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training


def test_dropout_masks_agree_across_the_lookahead_forwards():
    torch.manual_seed(2)
    model = Tiny(dropout=0.5).train()
    batch = make_batch(2)
    first = lookahead_affinity(model, LOSS_FNS, batch, SHARED, 0.1).matrix
    second = lookahead_affinity(model, LOSS_FNS, batch, SHARED, 0.1).matrix
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    # with one shared dropout mask, tasks a and b (same targets, same heads) still coincide exactly
    torch.testing.assert_close(first[0], first[1])


def test_accumulator_averages_steps_and_round_trips(tmp_path):
    torch.manual_seed(3)
    model = Tiny()
    tracker = LookaheadAffinity(model, LOSS_FNS, SHARED, lr=0.1)
    steps = [tracker.update(make_batch(s)).matrix for s in range(3)]
    steps.append(tracker.update(make_batch(3), lr=0.01).matrix)
    torch.testing.assert_close(steps[3], reference(model, make_batch(3), 0.01))
    mean = tracker.compute()
    assert mean.num_steps == tracker.num_steps == 4
    torch.testing.assert_close(mean.matrix, torch.stack(steps).mean(0))
    torch.save(tracker.state_dict(), tmp_path / "aff.pt")
    other = LookaheadAffinity(model, LOSS_FNS, SHARED, lr=0.1)
    other.load_state_dict(torch.load(tmp_path / "aff.pt", weights_only=True))
    torch.testing.assert_close(other.compute().matrix, mean.matrix)
    assert other.compute()["a", "c"] == pytest.approx(float(mean.matrix[0, 2]))
    tracker.reset()
    with pytest.raises(ValueError, match="no lookahead affinity steps"):
        tracker.compute()


def test_multitask_model_defaults_equal_explicit_arguments():
    torch.manual_seed(4)
    tasks = [mt.Task("p", "regression", 1), mt.Task("q", "regression", 1)]
    model = mt.create_model(
        "hps", tasks=tasks, backbone="mlp", backbone_kwargs={"in_features": 3, "hidden": [5]}
    ).double()
    x = torch.randn(8, 3, dtype=torch.float64)
    y = {"p": torch.randn(8, 1, dtype=torch.float64), "q": torch.randn(8, 1, dtype=torch.float64)}
    got = lookahead_affinity(model, None, (x, y), None, 0.2)
    ids = {id(p) for p in model.shared_parameters()}
    names = [n for n, p in model.named_parameters() if id(p) in ids]
    fns = {t.name: (lambda out, tg, t=t: F.mse_loss(out[t.name], tg[t.name])) for t in tasks}
    torch.testing.assert_close(got.matrix, lookahead_affinity(model, fns, (x, y), names, 0.2).matrix)
    assert got.task_names == ("p", "q")


def test_errors_name_the_problem():
    torch.manual_seed(5)
    model = Tiny()
    batch = make_batch()
    with pytest.raises(ValueError, match="lr must be a positive"):
        lookahead_affinity(model, LOSS_FNS, batch, SHARED, 0.0)
    with pytest.raises(ValueError, match=r"unknown shared parameter names \['enc.nope'\]"):
        lookahead_affinity(model, LOSS_FNS, batch, ["enc.nope"], 0.1)
    with pytest.raises(ValueError, match="pass loss_fns"):
        lookahead_affinity(model, None, batch, SHARED, 0.1)
    with pytest.raises(ValueError, match="pass shared_names"):
        lookahead_affinity(model, LOSS_FNS, batch, None, 0.1)
    with pytest.raises(TypeError, match=r"\(x, targets\) pair"):
        lookahead_affinity(model, LOSS_FNS, batch[0], SHARED, 0.1)
    x, y = batch
    with torch.no_grad():
        fitted = {t: model(x)[t].clone() for t in TASKS}
    with pytest.raises(ValueError, match=r"task\(s\) \['b'\]"):
        lookahead_affinity(model, LOSS_FNS, (x, {**y, "b": fitted["b"]}), SHARED, 0.1)
    with pytest.raises(ValueError, match="task 'a' must be a scalar"):
        lookahead_affinity(model, {"a": lambda out, tg: out["a"]}, batch, SHARED, 0.1)
