import shutil
import sys
from pathlib import Path

import pytest

from multitask.train.config import Config

USER_MODULE = "mt_user_toys"


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


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A user's module ``mt_user_toys`` (dataset, model, method) in a temp folder on ``sys.path``;
    returns that folder (put it on PYTHONPATH for a subprocess)."""
    folder = tmp_path / "userpkg"
    folder.mkdir()
    shutil.copy(Path(__file__).with_name("user_toys.py"), folder / f"{USER_MODULE}.py")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, USER_MODULE, raising=False)
    yield folder
    sys.modules.pop(USER_MODULE, None)
