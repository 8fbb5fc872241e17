import pytest

from multitask.train.config import Config


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MULTITASK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def tiny_config(tmp_path):
    def make(**train):
        data = {
            "data": {
                "name": "multimnist",
                "batch_size": 32,
                "eval_batch_size": 100,
                "kwargs": {"n_train": 128, "n_val": 64, "n_test": 64},
            },
            "model": {"name": "hps", "backbone": "lenet"},
            "method": {"name": "ew"},
            "train": {"epochs": 2, "out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
        }
        data["train"].update(train)
        return Config.from_dict(data)

    return make
