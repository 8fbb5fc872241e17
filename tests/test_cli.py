import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multitask.cli import main
from multitask.train.checkpoint import load_checkpoint

USER_TOYS = Path(__file__).parent / "train" / "user_toys.py"


def _toy_config(folder: Path, out: Path, epochs: int, **train) -> Path:
    """A config that uses a user's dataset, model and method by import path (module ``mt_user_toys``)."""
    extra = "".join(f"  {k}: {v}\n" for k, v in train.items())
    cfg = folder / "toy.yaml"
    cfg.write_text(
        "data:\n  name: mt_user_toys:ToyData\n  batch_size: 16\n  kwargs: {n: 48}\n"
        "model:\n  name: mt_user_toys:ToyModel\n  kwargs: {hidden: 8}\n"
        "method:\n  name: mt_user_toys:HalfWeights\n"
        "optim:\n  lr: 1e-3\n"
        f"train:\n  epochs: {epochs}\n  progress: false\n  tensorboard: false\n  out_dir: {out}\n{extra}"
    )
    return cfg


@pytest.fixture
def toys(tmp_path, monkeypatch):
    folder = tmp_path / "userpkg"
    folder.mkdir()
    (folder / "mt_user_toys.py").write_text(USER_TOYS.read_text())
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "mt_user_toys", raising=False)
    monkeypatch.setenv("MULTITASK_CACHE", str(tmp_path / "cache"))
    yield folder
    sys.modules.pop("mt_user_toys", None)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """Two real ``multitask train`` processes on one run directory (the user's own dataset, model and
    method by import path): the second must fail at once naming the first; then the first gets SIGINT."""
    tmp = tmp_path_factory.mktemp("cli_proc")
    folder = tmp / "userpkg"
    folder.mkdir()
    (folder / "mt_user_toys.py").write_text(USER_TOYS.read_text())
    out = tmp / "run"
    cfg = _toy_config(tmp, out, epochs=100000, checkpoint_every=1)
    env = {**os.environ, "MULTITASK_CACHE": str(tmp / "cache")}
    env["PYTHONPATH"] = os.pathsep.join([str(folder), *filter(None, [env.get("PYTHONPATH")])])
    cmd = [sys.executable, "-m", "multitask", "train", str(cfg)]
    # SIGINT's default action in the child even when this process was started with SIGINT ignored (a
    # background job of a non-interactive shell): Python then installs its KeyboardInterrupt handler
    first = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint.pt").is_file():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first process wrote no checkpoint"
            time.sleep(0.2)
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    return {"first": first, "first_err": err, "second": second, "cfg": cfg, "out": out, "folder": folder}


def test_second_process_on_a_run_directory_fails_at_once_naming_the_holder(interrupted):
    second = interrupted["second"]
    assert second.returncode == 2
    err = second.stderr.strip()
    assert err.count("\n") == 0 and "is in use by another multitask process" in err
    assert f"pid {interrupted['first'].pid} on host" in err


def test_users_dataset_model_and_method_by_import_path_from_the_cli(interrupted):
    state = load_checkpoint(interrupted["out"] / "checkpoint.pt")
    assert state["config"]["data"]["name"] == "mt_user_toys:ToyData" and state["global_step"] >= 1
    assert "HalfWeights" in repr(state["method"].keys()) or state["config"]["method"]["name"].endswith(
        "Weights"
    )


def test_ctrl_c_prints_one_line_with_checkpoint_and_resume_command_exit_130(interrupted, monkeypatch):
    assert interrupted["first"].returncode == 130
    lines = interrupted["first_err"].strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in interrupted["first_err"], interrupted["first_err"]
    line = lines[0]
    ckpt = interrupted["out"] / "checkpoint.pt"
    assert f"last checkpoint: {ckpt}" in line
    command = line.split("Resume with: ", 1)[1]
    assert (
        command
        == f"{sys.executable} -m multitask {shlex.join(['train', str(interrupted['cfg']), '--resume'])}"
    )
    # the printed command resumes the run (with a budget just past the checkpoint, to keep the test short)
    trained = int(load_checkpoint(ckpt)["epoch"])
    monkeypatch.syspath_prepend(str(interrupted["folder"]))
    argv = shlex.split(command)[3:] + ["--set", f"train.epochs={trained + 1}", "--no-plots"]
    assert main(argv) == 0
    assert load_checkpoint(ckpt)["epoch"] == trained + 1


def test_existing_run_is_refused_and_a_bad_value_touches_nothing(toys, tmp_path, capsys):
    out = tmp_path / "run"
    cfg = _toy_config(tmp_path, out, epochs=1)
    assert main(["train", str(cfg), "--no-plots"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["train", str(cfg), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already holds a run" in err and "--resume" in err and "--force" in err
    for bad, key in [("train.epochs=-1", "train.epochs"), ("data.batch_size=0", "data.batch_size"),
                     ("train.device=gpu", "train.device")]:  # fmt: skip
        assert main(["train", str(cfg), "--force", "--set", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"'{key}'" in err and "allowed" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert main(["train", str(cfg), "--force", "--no-plots"]) == 0


def test_per_epoch_summary_line(toys, tmp_path, capsys):
    cfg = _toy_config(tmp_path, tmp_path / "run", epochs=2)
    assert main(["train", str(cfg), "--set", "train.progress=true", "--no-plots"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("epoch ")]
    assert len(lines) == 2
    assert lines[1].startswith("epoch 2/2  val sign/accuracy ") and "total/" in lines[1]
    assert "Δm " in lines[1] and "selected so far: epoch " in lines[1]


def test_train_writes_the_runs_plots_and_says_where(toys, tmp_path, capsys):
    plots = pytest.importorskip("multitask.bench.plots")
    if not hasattr(plots, "plot_run"):
        pytest.skip("multitask.bench.plots.plot_run is not on this branch yet")
    out = tmp_path / "run"
    assert main(["train", str(_toy_config(tmp_path, out, epochs=1))]) == 0
    printed = [x for x in capsys.readouterr().out.splitlines() if x.startswith("plots (")]
    assert len(printed) == 1
    paths = [Path(p) for p in printed[0].split(": ", 1)[1].split(", ")]
    assert paths and all(p.is_file() and out in p.parents for p in paths)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all"])
def test_eval_of_a_bad_checkpoint_is_one_line(tmp_path, capsys, content):
    bad = tmp_path / "best.pt"
    bad.write_bytes(content)
    assert main(["eval", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err and "not a valid multitask checkpoint" in err
    assert "weights_only" not in err


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
    assert not (tmp_path / "run").exists()


def test_train_through_python_m_then_eval(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MULTITASK_CACHE", str(tmp_path / "cache"))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "data:\n  name: multimnist\n  batch_size: 32\n  kwargs: {n_train: 64, n_val: 32, n_test: 32}\n"
        f"train:\n  epochs: 1\n  progress: false\n  tensorboard: false\n  out_dir: {tmp_path / 'run'}\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "multitask", "train", str(cfg), "--set", "method.name=uw", "--no-plots"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "run" / "result.json").is_file()
    assert main(["eval", str(tmp_path / "run" / "best.pt")]) == 0
    assert '"accuracy"' in capsys.readouterr().out


@pytest.mark.parametrize("cmd", [[], ["train"], ["bench"], ["eval"], ["list"]])
def test_help_everywhere(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*cmd, "--help"])
    assert exc.value.code == 0
    assert "usage: multitask" in capsys.readouterr().out


def test_ray_timeout_without_ray_is_one_line_error(tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path / "g"), "--ray-timeout", "60"]) == 2
    assert "--ray-timeout applies to Ray runs: add --ray" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()
