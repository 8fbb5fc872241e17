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


def test_yaml_12_floats_in_files_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 1e-3\n  weight_decay: 5E-4\n")
    cfg = Config.from_yaml(path, ["optim.gamma=2e-1", "data.kwargs={tol: 1e-6}"])
    assert cfg.optim.lr == 1e-3 and cfg.optim.weight_decay == 5e-4 and cfg.optim.gamma == 0.2
    assert cfg.data.kwargs == {"tol": 1e-6}
    quoted = Config.from_yaml(path, ["method.kwargs={tag: '1e-3'}"])  # quoted stays a string
    assert quoted.method.kwargs == {"tag": "1e-3"}


@pytest.mark.parametrize(
    ("override", "key", "allowed"),
    [
        ("data.batch_size=0", "data.batch_size", "an integer >= 1"),
        ("train.epochs=-1", "train.epochs", "an integer >= 1"),
        ("train.device=gpu", "train.device", "auto, cpu, cuda, cuda:N, mps"),
        ("optim.name=adm", "optim.name", "adam, adamw, sgd"),
        ("optim.scheduler=linear", "optim.scheduler", "none, step, cosine"),
        ("method.mode=feature", "method.mode", "parameters, features"),
        ("train.nonfinite=ignore", "train.nonfinite", "raise, skip"),
        ("optim.lr=0", "optim.lr", "a number > 0"),
        ("train.max_steps_per_epoch=0", "train.max_steps_per_epoch", "an integer >= 1"),
        ("data.in_memory=yes", "data.in_memory", "auto, always, never"),
    ],
)
def test_values_are_checked_naming_key_and_allowed(tmp_path, override, key, allowed):
    path = tmp_path / "c.yaml"
    path.write_text("{}\n")
    with pytest.raises(ValueError) as exc:
        Config.from_yaml(path, [override])
    msg = str(exc.value)
    assert "\n" not in msg and f"'{key}'" in msg and f"allowed: {allowed}" in msg


def test_literal_typo_suggests_the_close_value():
    with pytest.raises(ValueError, match=r"did you mean 'adam'\?"):
        Config.from_dict({"optim": {"name": "adm"}})


def test_validate_checks_a_config_changed_in_python():
    cfg = Config()
    cfg.data.batch_size = 0
    with pytest.raises(ValueError, match=r"'data\.batch_size'"):
        cfg.validate()


def test_method_switch_by_override_drops_the_old_methods_kwargs(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("method:\n  name: mgda\n  kwargs: {normalization: none}\n  mode: features\n")
    notes: list[str] = []
    cfg = Config.from_yaml(path, ["method.name=cagrad"], notes)
    assert cfg.method.name == "cagrad" and cfg.method.kwargs == {} and cfg.method.mode == "features"
    assert len(notes) == 1 and "normalization" in notes[0]
    kept = Config.from_yaml(path, ["method.name=cagrad", "method.kwargs={c: 0.2}"])
    assert kept.method.kwargs == {"c": 0.2}
    same = Config.from_yaml(path, ["method.name=mgda"])  # same name: kwargs stay
    assert same.method.kwargs == {"normalization": "none"}


def test_method_switch_on_the_shipped_mgda_config_builds(tmp_path):
    from pathlib import Path

    from multitask.train.build import build_method

    path = Path(__file__).resolve().parents[2] / "configs" / "multimnist_mgda.yaml"
    cfg = Config.from_yaml(path, ["method.name=cagrad"])
    method = build_method(cfg.method.name, cfg.method.kwargs, 2)
    assert type(method).__name__ == "CAGrad"
