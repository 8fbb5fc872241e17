import os
import zipfile

import pytest
import torch

from multitask.train.checkpoint import load_checkpoint, save_checkpoint


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo unsafe",))


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.pt"
    save_checkpoint(path, {"model": {"w": torch.randn(64, 64)}, "epoch": 1})
    return path


def _reason(path):
    with pytest.raises(ValueError) as exc:
        load_checkpoint(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    assert "weights_only=False" not in msg and "weights_only" not in msg
    return msg


def test_good_checkpoint_loads(good):
    assert load_checkpoint(good)["epoch"] == 1


def test_empty_truncated_and_garbage_files_are_not_valid_checkpoints(good, tmp_path):
    data = good.read_bytes()
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(bytes(range(256)) * 4)
    assert "not a valid multitask checkpoint (the file is empty)" in _reason(tmp_path / "empty.pt")
    for name in ("trunc.pt", "garbage.pt"):
        assert "not a valid multitask checkpoint (truncated" in _reason(tmp_path / name)


def test_a_pickle_with_code_is_refused_as_unsafe(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": _Evil()}, path)
    assert zipfile.is_zipfile(path)
    assert "not a safe multitask checkpoint" in _reason(path)


def test_a_torch_file_that_is_not_a_run_checkpoint_is_named(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, path)
    assert "no 'model' entry" in _reason(path)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
