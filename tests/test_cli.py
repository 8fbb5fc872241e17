import subprocess
import sys

import pytest

from multitask.cli import main


def test_list_prints_registries(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "methods: " in out and "ew" in out and "models: " in out and "hps" in out and "multimnist" in out


def test_bad_config_key_is_one_line_error(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  nmae: hps\n")
    assert main(["train", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'model.nmae'" in err


def test_missing_dataset_root_names_the_path(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    missing = tmp_path / "no_nyu_here"
    cfg.write_text(f"data:\n  name: nyuv2\n  root: {missing}\ntrain:\n  out_dir: {tmp_path / 'run'}\n")
    assert main(["train", str(cfg)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_train_then_eval_through_python_m(tmp_path, monkeypatch):
    monkeypatch.setenv("MULTITASK_CACHE", str(tmp_path / "cache"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "data:\n  name: multimnist\n  batch_size: 32\n  kwargs: {n_train: 64, n_val: 32, n_test: 32}\n"
        f"train:\n  epochs: 1\n  progress: false\n  tensorboard: false\n  out_dir: {tmp_path / 'run'}\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "multitask", "train", str(cfg), "--set", "method.name=uw"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "run" / "result.json").is_file()
    ev = subprocess.run(
        [sys.executable, "-m", "multitask", "eval", str(tmp_path / "run" / "best.pt")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ev.returncode == 0, ev.stderr
    assert '"accuracy"' in ev.stdout


@pytest.mark.parametrize("cmd", [[], ["train"], ["bench"], ["eval"], ["list"]])
def test_help_everywhere(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*cmd, "--help"])
    assert exc.value.code == 0
    assert "usage: multitask" in capsys.readouterr().out
