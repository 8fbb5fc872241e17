import pytest

from multitask.train.config import Config, apply_overrides


def test_defaults_round_trip_through_yaml(tmp_path):
    cfg = Config()
    cfg.model.kwargs = {"head": "aspp"}
    cfg.to_yaml(tmp_path / "c.yaml")
    again = Config.from_yaml(tmp_path / "c.yaml")
    assert again == cfg


def test_unknown_key_is_named():
    with pytest.raises(ValueError, match=r"unknown config key 'model\.bakbone'"):
        Config.from_dict({"model": {"bakbone": "lenet"}})
    with pytest.raises(ValueError, match=r"unknown config key 'trian'"):
        Config.from_dict({"trian": {}})


def test_wrong_type_is_named():
    with pytest.raises(ValueError, match=r"'train\.epochs': expected an integer"):
        Config.from_dict({"train": {"epochs": "ten"}})
    with pytest.raises(ValueError, match=r"'optim\.lr': expected a number"):
        Config.from_dict({"optim": {"lr": "fast"}})
    with pytest.raises(ValueError, match=r"'train\.progress': expected true/false"):
        Config.from_dict({"train": {"progress": 1}})
    with pytest.raises(ValueError, match=r"'data': expected a mapping"):
        Config.from_dict({"data": 3})


def test_overrides_parse_yaml_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("method:\n  name: mgda\n")
    cfg = Config.from_yaml(
        path, ["train.epochs=3", "optim.lr=0.01", "method.kwargs={c: 0.5}", "data.root=null"]
    )
    assert cfg.train.epochs == 3 and cfg.optim.lr == 0.01 and cfg.method.kwargs == {"c": 0.5}
    assert cfg.method.name == "mgda" and cfg.data.root is None
    with pytest.raises(ValueError, match="key.sub=value"):
        apply_overrides({}, ["train.epochs"])
    with pytest.raises(ValueError, match=r"unknown config key 'train\.epoch'"):
        Config.from_yaml(path, ["train.epoch=3"])


def test_missing_and_invalid_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        Config.from_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="bad.yaml: the top level must be a mapping"):
        Config.from_yaml(bad)


def test_shipped_example_configs_parse():
    from pathlib import Path

    import multitask as mt

    files = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
    assert files
    for path in files:
        cfg = Config.from_yaml(path)
        assert cfg.method.name in mt.list_methods() and cfg.model.name in mt.list_models()
        assert cfg.data.name in mt.list_datasets()
