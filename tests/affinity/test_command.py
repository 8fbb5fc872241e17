"""``multitask affinity`` is reachable from the ``multitask`` command."""

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
