"""Multi-input training (one dataset per task): one batch of every domain per step, shared encoder."""

from __future__ import annotations

import pytest
import torch

from multitask.train import Trainer
from multitask.train.config import Config
from multitask.train.loader import MultiInputSplit


def _config(tmp_path, method="ew", mode="parameters", **data_kwargs) -> Config:
    kwargs = {"n_train": 48, "n_val": 16, "n_test": 16, "domains": ["plain", "inverted", "rotated"]}
    kwargs.update(data_kwargs)
    return Config.from_dict({
        "data": {"name": "mnist_domains", "batch_size": 16, "eval_batch_size": 32, "kwargs": kwargs},
        "model": {"name": "hps", "backbone": "lenet"},
        "method": {"name": method, "mode": mode},
        "train": {"epochs": 1, "out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("method", "mode"), [("ew", "parameters"), ("upgrad", "features"), ("mgda", "parameters")]
)
def test_multi_input_trains_end_to_end(tmp_path, method, mode):
    trainer = Trainer(_config(tmp_path, method, mode))
    assert isinstance(trainer.splits["train"], MultiInputSplit)
    result = trainer.fit()
    assert set(result["test"]) == {"plain", "inverted", "rotated"}
    steps = (tmp_path / "run" / "steps.csv").read_text().splitlines()
    assert len(steps) == 1 + 3  # 48 images per domain, batch 16: 3 steps, each with a batch of every domain
    assert all(f"loss/{d}" in steps[0] for d in ("plain", "inverted", "rotated"))


def test_each_task_loss_is_on_its_own_domain_batch(tmp_path):
    trainer = Trainer(_config(tmp_path))
    split = trainer.splits["train"]
    order = trainer._order(0)
    assert len(order) == 3 and set(order[0]) == {"plain", "inverted", "rotated"}
    xs, ys = next(split.batches(order[:1]))
    trainer.model.eval()  # no dropout: the two forward passes must match
    losses, features = trainer._losses(xs, ys)
    assert features is None
    for task in trainer.tasks:
        expected = task.loss(trainer.model(xs[task.name])[task.name], ys[task.name])
        torch.testing.assert_close(losses[task.name], expected)
    assert not torch.equal(xs["plain"], xs["inverted"])


def test_shorter_domains_cycle_and_epoch_is_the_longest_domain(tmp_path):
    cfg = _config(tmp_path)
    trainer = Trainer(cfg)
    split = trainer.splits["train"]
    split.domains["rotated"].x = split.domains["rotated"].x[:20]  # 20 images: 2 batches, cycled
    split.domains["rotated"].targets = {k: v[:20] for k, v in split.domains["rotated"].targets.items()}
    order = split.orders(16, 0, 0, None)
    assert len(order) == 3 and torch.equal(order[2]["rotated"], order[0]["rotated"])
    assert sorted(torch.cat([order[0]["rotated"], order[1]["rotated"]]).tolist()) == list(range(20))


@pytest.mark.parametrize(
    ("name", "domains", "classes"),
    [
        ("office31", ("amazon", "dslr", "webcam"), 31),
        ("office_home", ("Art", "Clipart", "Product", "Real World"), 65),
    ],
)
def test_office_loaders_train_end_to_end_on_a_tiny_fixture(tmp_path, name, domains, classes):
    """The real folder layout (root/<domain>/<class>/<image>, all classes), tiny images, one epoch."""
    from PIL import Image

    root = tmp_path / "data"
    for d, domain in enumerate(domains):
        for c in range(classes):
            folder = root / domain / f"class_{c:02d}"
            folder.mkdir(parents=True)
            for i in range(5):
                Image.new("RGB", (6, 6), (40 * d, (7 * c) % 256, 30 * i)).save(folder / f"img_{i}.png")
    cfg = Config.from_dict({
        "data": {"name": name, "root": str(root), "batch_size": 64, "eval_batch_size": 128,
                 "kwargs": {"size": 28}},
        "model": {"name": "hps", "backbone": "lenet"},
        "method": {"name": "ew"},
        "train": {"epochs": 1, "out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })  # fmt: skip
    result = Trainer(cfg).fit()
    assert sorted(result["test"]) == sorted(d.replace(" ", "_") for d in domains)
    assert all(0.0 <= m["accuracy"] <= 1.0 for m in result["test"].values())


def test_multi_input_with_a_domain_batch_without_labels(tmp_path):
    trainer = Trainer(_config(tmp_path, "upgrad", "features"))
    xs, ys = next(trainer.splits["train"].batches(trainer._order(0)[:1]))
    ys = {**ys, "rotated": torch.full_like(ys["rotated"], -1)}
    head = [p.detach().clone() for p in trainer.model.task_parameters("rotated")]
    info = trainer.train_step(xs, ys)
    assert info is not None and info.absent == ["rotated"]
    assert all(torch.equal(p, h) for p, h in zip(trainer.model.task_parameters("rotated"), head))
