"""A tiny real grid for the bench tests: MultiMNIST subset, HPS with EW and MGDA, 2 seeds, 1 epoch."""

from multitask.bench.runner import Grid

TINY_BASE = {
    "data": {
        "name": "multimnist",
        "batch_size": 32,
        "eval_batch_size": 100,
        "kwargs": {"n_train": 64, "n_val": 32, "n_test": 32},
    },
    "model": {"backbone": "lenet"},
    "train": {"epochs": 1, "tensorboard": False},
}


def tiny_grid() -> Grid:
    return Grid(base=TINY_BASE, architectures=["hps"], methods=["ew", "mgda"], seeds=[0, 1])
