"""The shipped multi-input digits: four domains, disjoint pools, deterministic, really different."""

from __future__ import annotations

import pytest
import torch

from multitask.data import create_dataset
from multitask.data.mnist_domains import DOMAINS


def test_domains_are_disjoint_deterministic_and_different():
    ds = create_dataset("mnist_domains", split="train", n_train=40, n_val=10, n_test=10)
    assert ds.multi_input and [t.name for t in ds.tasks] == list(DOMAINS)
    assert sorted(ds.domains) == sorted(DOMAINS) and len(ds) == 160
    x, y = ds.domains["inverted"][0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and list(y) == ["inverted"]
    means = {d: float(ds.domains[d].images.float().mean()) for d in DOMAINS}
    assert means["inverted"] > 150 > means["plain"] and means["textured"] > means["plain"] + 30
    again = create_dataset("mnist_domains", split="train", n_train=40, n_val=10, n_test=10)
    assert torch.equal(ds.domains["rotated"].images, again.domains["rotated"].images)
    test = create_dataset("mnist_domains", split="test", n_train=40, n_val=10, n_test=10)
    for d in DOMAINS:  # no image shared between splits of a domain (plain pixels identify the image)
        a = {bytes(v.numpy()) for v in ds.domains[d].images}
        b = {bytes(v.numpy()) for v in test.domains[d].images}
        assert not a & b


def test_bad_arguments():
    with pytest.raises(ValueError, match="domains"):
        create_dataset("mnist_domains", split="train", domains=["plain", "sketch"])
    with pytest.raises(ValueError, match="exceed"):
        create_dataset("mnist_domains", split="train", n_train=3000)
