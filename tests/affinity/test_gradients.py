import pytest
import torch
import torch.nn.functional as F
from torch import nn

import multitask as mt
from multitask import StepInfo
from multitask.affinity import affinity_from_log, gradient_affinity, task_gradient_cosines
from multitask.train.logging import write_csv


def manual_cosines(losses: dict, shared: list) -> torch.Tensor:
    """One autograd.grad per task, flattened, torch's cosine_similarity pairwise."""
    grads = [
        torch.cat([g.reshape(-1) for g in torch.autograd.grad(v, shared, retain_graph=True)])
        for v in losses.values()
    ]
    t = len(grads)
    out = torch.empty(t, t, dtype=torch.float64)
    for i in range(t):
        for j in range(t):
            out[i, j] = F.cosine_similarity(grads[i], grads[j], dim=0).double()
    return out


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(3, 4, dtype=torch.float64)
        self.heads = nn.ModuleList(nn.Linear(4, 1, dtype=torch.float64) for _ in range(3))

    def losses(self, batch):
        x, y = batch
        z = torch.tanh(self.enc(x))
        return {name: F.mse_loss(h(z).squeeze(-1), y[name]) for name, h in zip("abc", self.heads)}


def batches(n: int = 3):
    out = []
    for s in range(n):
        g = torch.Generator().manual_seed(s)
        x = torch.randn(8, 3, generator=g, dtype=torch.float64)
        out.append((x, {k: torch.randn(8, generator=g, dtype=torch.float64) for k in "abc"}))
    return out


def test_callable_matches_manual_autograd_averaged_over_batches():
    torch.manual_seed(0)
    model = Tiny()
    shared = list(model.enc.parameters())
    data = batches()
    got = gradient_affinity(model.losses, data, shared)
    expected = torch.stack([manual_cosines(model.losses(b), shared) for b in data]).mean(0)
    torch.testing.assert_close(got.matrix, expected, rtol=1e-10, atol=1e-12)
    assert got.task_names == ("a", "b", "c") and got.num_steps == 3 and got.kind == "gradient_cosine"
    for strategy in ("loop", "batched"):
        other = gradient_affinity(model.losses, data, shared, strategy=strategy, chunk_size=2)
        torch.testing.assert_close(other.matrix, expected, rtol=1e-10, atol=1e-12)
    assert all(p.grad is None for p in model.parameters())


def test_hand_worked_equal_and_opposite_targets():
    # pred_t = x·w with the shared w at 0: ∇_w L = -2 E[x y_t], so equal targets give cosine 1 and
    # opposite targets cosine -1
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], dtype=torch.float64)
    y = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)

    def fn(batch):
        pred = batch @ w
        return {"a": ((pred - y) ** 2).mean(), "b": ((pred - y) ** 2).mean(), "c": ((pred + y) ** 2).mean()}

    got = gradient_affinity(fn, [x], [w]).matrix
    expected = torch.tensor([[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(got, expected)


def test_zero_gradient_task_gets_zero_cosine():
    w = torch.ones(2, requires_grad=True)
    losses = {"a": (w**2).sum(), "b": (w * 0).sum() + 1.0}
    cos = task_gradient_cosines(losses, [w])
    torch.testing.assert_close(cos, torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64))


def hps_model():
    tasks = [mt.Task("p", "regression", 1), mt.Task("q", "classification", 3)]
    return mt.create_model(
        "hps", tasks=tasks, backbone="mlp", backbone_kwargs={"in_features": 3, "hidden": [5]}
    ).double()


def model_batches(n: int = 2):
    g = torch.Generator().manual_seed(7)
    return [
        (
            torch.randn(6, 3, generator=g, dtype=torch.float64),
            {
                "p": torch.randn(6, 1, generator=g, dtype=torch.float64),
                "q": torch.randint(0, 3, (6,), generator=g),
            },
        )
        for _ in range(n)
    ]


def test_model_parameters_and_features_modes_match_manual():
    torch.manual_seed(1)
    model = hps_model()
    data = model_batches()
    shared = list(model.shared_parameters())

    def losses(x, y, preds):
        return {t.name: t.loss(preds[t.name], y[t.name]) for t in model.tasks}

    expected = torch.stack([manual_cosines(losses(x, y, model(x)), shared) for x, y in data]).mean(0)
    torch.testing.assert_close(gradient_affinity(model, data).matrix, expected)
    feats = []
    for x, y in data:
        z = model.encode(x)
        feats.append(manual_cosines(losses(x, y, model.decode(z)), [z]))
    got = gradient_affinity(model, data, mode="features")
    torch.testing.assert_close(got.matrix, torch.stack(feats).mean(0))
    assert got.task_names == ("p", "q")


def test_gradient_affinity_errors():
    torch.manual_seed(2)
    model = hps_model()
    with pytest.raises(ValueError, match="`batches` is empty"):
        gradient_affinity(model, [])
    with pytest.raises(ValueError, match="pass `shared`"):
        gradient_affinity(lambda b: {}, [1])
    with pytest.raises(ValueError, match="features mode needs a MultiTaskModel"):
        gradient_affinity(lambda b: {}, [1], mode="features")
    with pytest.raises(ValueError, match="mode must be"):
        gradient_affinity(model, [], mode="heads")
    with pytest.raises(TypeError, match="MultiTaskModel or a callable"):
        gradient_affinity(3, [])
    x, y = model_batches(1)[0]
    with pytest.raises(ValueError, match="no target for task 'q'"):
        gradient_affinity(model, [(x, {"p": y["p"]})])
    with pytest.raises(TypeError, match="pairs"):
        gradient_affinity(model, [x])
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="task 'b' is not finite"):
        gradient_affinity(lambda b: {"a": w.sum(), "b": w.sum() * float("nan")}, [0], [w])
    with pytest.raises(ValueError, match="task 'a' must be a scalar"):
        gradient_affinity(lambda b: {"a": w * 2}, [0], [w])


# ---- reading the trainer's steps.csv ---------------------------------------------------------
def write_steps(path, rows):
    """Rows as the trainer writes them: {epoch, step, **StepInfo.as_dict(), step_time}."""
    write_csv(path, [{"epoch": 0, "step": s, **info.as_dict(), "step_time": 0.1} for s, info in rows])


def info(cos, names=("seg", "depth/l1", "pose")):
    c = torch.tensor(cos, dtype=torch.float64)
    return StepInfo(task_names=list(names), losses=torch.ones(3), cosines=c, mode="parameters")


def test_affinity_from_log_averages_the_logged_cosines(tmp_path):
    c1 = [[1.0, 0.5, -0.2], [0.5, 1.0, 0.1], [-0.2, 0.1, 1.0]]
    c2 = [[1.0, 0.3, -0.6], [0.3, 1.0, 0.3], [-0.6, 0.3, 1.0]]
    no_cos = StepInfo(task_names=["seg", "depth/l1", "pose"], losses=torch.ones(3))
    path = tmp_path / "steps.csv"
    write_steps(path, [(0, info(c1)), (1, no_cos), (2, info(c2))])
    got = affinity_from_log(path)
    assert got.task_names == ("seg", "depth/l1", "pose")  # a '/' in a task name is fine
    assert got.num_steps == 2
    expected = torch.tensor([[1.0, 0.4, -0.4], [0.4, 1.0, 0.2], [-0.4, 0.2, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(got.matrix, expected)
    later = affinity_from_log(path, start_step=1)
    torch.testing.assert_close(later.matrix, torch.tensor(c2, dtype=torch.float64))
    assert later["seg", "pose"] == pytest.approx(-0.6)


def test_affinity_from_log_errors_name_the_file(tmp_path):
    path = tmp_path / "steps.csv"
    write_steps(path, [(0, StepInfo(task_names=["a", "b"], losses=torch.ones(2)))])
    with pytest.raises(ValueError, match=r"steps\.csv: no 'cos/<a>/<b>' columns"):
        affinity_from_log(path)
    path.write_text("step,value\n0,1\n")
    with pytest.raises(ValueError, match="no 'loss/<task>' columns"):
        affinity_from_log(path)
    path.write_text("step,loss/a,loss/b,loss/c,cos/a/b,cos/a/c\n0,1,1,1,0.5,0.5\n")
    with pytest.raises(ValueError, match=r"missing cosine columns \['cos/b/c'\]"):
        affinity_from_log(path)
    path.write_text("step,loss/a,loss/b,cos/a/b\n0,1,1,oops\n")
    with pytest.raises(ValueError, match=r"line 2: column 'cos/a/b' is not a number"):
        affinity_from_log(path)
    path.write_text("step,loss/a,loss/b,cos/a/b\n0,1,1,nan\n")
    with pytest.raises(ValueError, match="not finite"):
        affinity_from_log(path)
    path.write_text("loss/a,loss/b,cos/a/b\n1,1,0.5\n")
    with pytest.raises(ValueError, match="no 'step' column"):
        affinity_from_log(path, start_step=3)
    path.write_text("step,loss/a,loss/b,loss/c,cos/a/b,cos/a/c,cos/b/c\n0,1,1,1,0.5,,0.1\n")
    with pytest.raises(ValueError, match="only some of the cos/ columns"):
        affinity_from_log(path)
    path.write_text("step,loss/a,loss/b,cos/a/b\n0,1,1,0.5\n")
    with pytest.raises(ValueError, match="no row with task-gradient cosines"):
        affinity_from_log(path, start_step=5)


def test_weights_only_drops_biases_like_the_official_cosine_baseline():
    torch.manual_seed(0)
    enc = torch.nn.Linear(3, 4)
    heads = [torch.nn.Linear(4, 1) for _ in range(2)]
    x = torch.randn(8, 3)
    y = [torch.randn(8), -torch.randn(8)]

    def losses(batch):
        z = torch.tanh(enc(batch))
        return {f"t{i}": ((h(z).squeeze(-1) - y[i]) ** 2).mean() for i, h in enumerate(heads)}

    got = gradient_affinity(losses, [x], shared=list(enc.parameters()), weights_only=True)
    ga, gb = (torch.autograd.grad(v, enc.weight, retain_graph=True)[0].flatten() for v in losses(x).values())
    expected = float(ga @ gb / (ga.norm() * gb.norm()))
    assert float(got.matrix[0, 1]) == pytest.approx(expected, rel=1e-5)
    full = gradient_affinity(losses, [x], shared=list(enc.parameters()))
    assert abs(float(full.matrix[0, 1]) - expected) > 1e-4  # the bias changes the cosine here
    with pytest.raises(ValueError, match="no shared tensor with 2"):
        gradient_affinity(losses, [x], shared=[enc.bias], weights_only=True)
