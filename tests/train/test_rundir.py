import os

import pytest

from multitask.train import Trainer
from multitask.train.rundir import RunDirError, RunLock


def test_a_second_lock_on_the_same_directory_fails_naming_the_holder(tmp_path):
    with RunLock(tmp_path / "run"):
        with pytest.raises(
            RunDirError, match=rf"in use by another multitask process \(pid {os.getpid()} on host"
        ):
            RunLock(tmp_path / "run").acquire()
    with RunLock(tmp_path / "run"):  # released: free again
        pass


def test_a_stale_lock_file_left_by_a_dead_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.lock").write_text("pid=999999 host=elsewhere since=2020-01-01 00:00:00 UTC\n")
    with RunLock(run):  # nobody holds the flock: the file is stale
        assert f"pid={os.getpid()}" in (run / "run.lock").read_text()


def test_a_run_directory_is_not_overwritten_without_force(tiny_config, tmp_path):
    cfg = tiny_config(epochs=1)
    Trainer(cfg).fit()
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    with pytest.raises(RunDirError, match=r"already holds a run .*--resume.*--force"):
        Trainer(cfg).fit()
    after = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    assert before == after
    Trainer(cfg).fit(force=True)


def test_resume_refuses_a_changed_config_naming_the_fields(tiny_config, tmp_path):
    Trainer(tiny_config(epochs=1)).fit()
    changed = tiny_config(epochs=1)
    changed.optim.lr = 0.01
    changed.data.kwargs = {**changed.data.kwargs, "n_val": 32}
    with pytest.raises(RunDirError) as exc:
        Trainer(changed).fit(resume=True)
    msg = str(exc.value)
    assert "optim.lr: 0.001 -> 0.01" in msg and "data.kwargs" in msg and "train.epochs" in msg
    assert "method" not in msg.split("differs in")[1].split(". Only")[0]


def test_resume_refuses_fewer_epochs_than_trained(tiny_config):
    Trainer(tiny_config(epochs=2)).fit()
    with pytest.raises(RunDirError, match=r"train\.epochs=1: it has already trained 2 epochs"):
        Trainer(tiny_config(epochs=1)).fit(resume=True)


def test_resume_without_a_checkpoint_starts_over_but_still_checks_the_config(tiny_config, tmp_path):
    cfg = tiny_config(epochs=1)
    Trainer(cfg).fit()
    (tmp_path / "run" / "checkpoint.pt").unlink()
    assert Trainer(cfg).fit(resume=True)["epochs"] == 1
    (tmp_path / "run" / "checkpoint.pt").unlink()
    other = tiny_config(epochs=1, seed=3)
    with pytest.raises(RunDirError, match=r"train\.seed: 0 -> 3"):
        Trainer(other).fit(resume=True)


def test_a_run_written_before_a_config_key_existed_resumes(tiny_config, tmp_path):
    """A checkpoint whose config lacks a section added since (here ``search``) resumes: the new
    section's defaults are no change; a real change is still refused."""
    import torch

    Trainer(tiny_config(epochs=1)).fit()
    ckpt = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(ckpt, weights_only=True)
    assert "search" in state["config"]
    del state["config"]["search"]
    torch.save(state, ckpt)
    assert Trainer(tiny_config(epochs=2)).fit(resume=True)["epochs"] == 2
    state = torch.load(ckpt, weights_only=True)
    del state["config"]["search"]
    state["config"]["optim"]["lr"] = 0.5
    torch.save(state, ckpt)
    with pytest.raises(RunDirError, match=r"optim\.lr: 0\.5 -> 0\.001"):
        Trainer(tiny_config(epochs=3)).fit(resume=True)
