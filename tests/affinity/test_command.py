"""``multitask affinity`` is reachable from the ``multitask`` command."""

import json

import pytest

from multitask import cli


def test_affinity_subcommand_is_wired(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["affinity", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--method" in out and "tag" in out and "rsa" in out


def test_affinity_subcommand_errors_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {name: multimnist}\n")
    assert cli.main(["affinity", str(cfg), "--steps", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: affinity: --steps must be >= 1") and "\n" not in err


@pytest.mark.parametrize("method", ["tag", "cosine"])
def test_affinity_command_recovers_planted_groups(tmp_path, capsys, method):
    cfg = tmp_path / "planted.yaml"
    cfg.write_text(
        "data: {name: 'tests.affinity._planted:PlantedGroups', batch_size: 64}\n"
        "model: {name: hps, backbone: mlp, kwargs: {backbone_kwargs: {hidden: [32]}}}\n"
        "optim: {name: sgd, lr: 0.01}\n"
        "train: {device: cpu, seed: 0}\n"
    )
    out = tmp_path / "groups.json"
    argv = ["affinity", str(cfg), "--method", method, "--steps", "12", "--k", "2", "--out", str(out)]
    assert cli.main(argv) == 0
    groups = {frozenset(g) for g in json.loads(out.read_text())["groups"]}
    assert groups == {frozenset({"a1", "a2"}), frozenset({"b1", "b2"})}
