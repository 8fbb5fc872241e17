import pytest
import torch

from multitask.train import Trainer
from multitask.train.build import build_method, resolve_device, resolve_mode


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_one_line_naming_the_key():
    with pytest.raises(
        ValueError, match=r"^config key 'train\.device': 'cuda' is not available \(.*allowed here"
    ):
        resolve_device("cuda")


def test_auto_device_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")


def test_build_method_passes_num_tasks_only_where_taken():
    assert sum(p.numel() for p in build_method("uw", {}, 3).parameters()) == 3  # one log-variance per task
    assert type(build_method("ew", {}, 3)).__name__ == "EW"
    with pytest.raises(ValueError, match=r"did you mean 'cagrad'"):
        build_method("cagrd", {}, 2)


def test_a_bad_config_fails_before_the_run_directory_exists(tiny_config, tmp_path):
    cfg = tiny_config()
    cfg.method.name = "cagrd"
    with pytest.raises(ValueError, match="cagrd"):
        Trainer(cfg)
    cfg = tiny_config()
    cfg.train.epochs = -1
    with pytest.raises(ValueError, match=r"'train\.epochs'"):
        Trainer(cfg)
    assert not (tmp_path / "run").exists()


def test_users_dataset_model_and_method_by_import_path(tiny_config, user_module):
    cfg = tiny_config(epochs=1)
    cfg.data.name = "mt_user_toys:ToyData"
    cfg.data.kwargs = {"n": 48}
    cfg.data.batch_size = 16
    cfg.model.name = "mt_user_toys:ToyModel"
    cfg.model.kwargs = {"hidden": 8}
    cfg.method.name = "mt_user_toys:HalfWeights"
    trainer = Trainer(cfg)
    assert type(trainer.method).__name__ == "HalfWeights" and trainer.mode == "loss"
    result = trainer.fit()
    assert set(result["test"]) == {"sign", "total"}
    cfg.method.name = "mgda"
    cfg.method.mode = "features"
    cfg.train.out_dir += "_mgda"
    assert resolve_mode(cfg, build_method("mgda", {}, 2), Trainer(cfg).model) == "features"


def test_a_dataset_whose_items_lack_a_tasks_target_is_refused(tiny_config, user_module):
    cfg = tiny_config(epochs=1)
    cfg.data.name = "mt_user_toys:OneTaskPerItem"
    cfg.data.kwargs = {}
    with pytest.raises(ValueError, match=r"item 0 has targets for \['sign'\] but the tasks are"):
        Trainer(cfg)
