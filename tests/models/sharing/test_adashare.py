import pytest
import torch
import yaml

import multitask as mt
from multitask.models.architectures._common import to_size
from multitask.models.backbones import create_backbone
from multitask.models.sharing import save_model_config
from multitask.train.config import Config


def set_policy(model, select: bool) -> None:
    with torch.no_grad():
        for lg in model.logits:
            lg[:, 0] = 10.0 if select else -10.0
            lg[:, 1] = -10.0 if select else 10.0


@pytest.mark.parametrize("backbone", ["resnet18", "lenet"])
@pytest.mark.parametrize("config", ["two", "three", "five"])
def test_shapes_partition_and_ew_grads(backbone, config, check_architecture):
    check_architecture("adashare", backbone, config, curriculum_speed=None)


@pytest.mark.parametrize("config", ["two", "three"])
def test_fixed_policy_shapes_partition_and_ew_grads(config, case_for, check_architecture):
    tasks = case_for("resnet18").configs[config]
    policy = {t.name: [1, 1, 0, 1, 1, 0, 1, 1] for t in tasks}
    policy[tasks[0].name] = [1, 1, 1, 1, 0, 0, 1, 0]  # block 2 owned by task 0; block 5 pruned
    check_architecture("adashare", "resnet18", config, policy=policy)


@pytest.mark.parametrize("backbone", ["resnet18", "lenet"])
def test_training_lowers_loss(backbone, check_architecture_training):
    check_architecture_training("adashare", backbone, "three", curriculum_speed=None)


@pytest.mark.parametrize("config", ["two", "five"])
def test_lenet_fixed_policy_shapes_partition_and_ew_grads(config, case_for, check_architecture):
    tasks = case_for("lenet").configs[config]
    policy = {t.name: [1, 0, 1] for t in tasks}
    policy[tasks[0].name] = [1, 1, 1]  # block 1 owned by task 0
    check_architecture("adashare", "lenet", config, policy=policy)


def test_lenet_all_select_is_the_lenet_and_all_skip_its_pooled_padded_input(case_for):
    case = case_for("lenet")
    tasks = case.configs["two"]
    model = case.build("adashare", tasks, curriculum_speed=None).eval()
    hps = case.build("hps", tasks).eval()
    x, _ = case.batch(tasks)
    set_policy(model, select=True)
    for mine, theirs in zip(model.units, hps.backbone.blocks):
        theirs.load_state_dict(mine.body.block.state_dict())
    hps.heads.load_state_dict(model.heads.state_dict())
    a, b = model(x), hps(x)
    for name in a:
        torch.testing.assert_close(a[name], b[name])
    set_policy(model, select=False)
    out = model(x)
    # skipping all three blocks: the 28x28 input pooled to 12x12, 4x4, then its global mean, zero-padded
    pool = torch.nn.functional.adaptive_avg_pool2d
    pooled = pool(pool(x, 12), 4).mean(dim=(2, 3))
    h = torch.cat([pooled, pooled.new_zeros(x.shape[0], 50 - x.shape[1])], dim=1)
    for t, task in enumerate(tasks):
        torch.testing.assert_close(out[task.name], model.heads[t](h))


def test_pool_pad_is_the_identity_on_matching_shapes():
    from multitask.models.sharing.adashare import PoolPad

    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(PoolPad((3, 5, 5))(x), x)
    out = PoolPad((6, 5, 5))(x)
    torch.testing.assert_close(out[:, :3], x)
    assert not out[:, 3:].any()


def test_backbone_without_skippable_blocks_is_rejected():
    tasks = [mt.Task("a", "classification", 2)]
    with pytest.raises(ValueError, match="no residual blocks to skip and no fixed input_size"):
        mt.create_model("adashare", tasks=tasks, backbone="mlp", in_channels=8)


def test_all_select_and_all_skip_policies(case_for):
    """AdaShare's policy space reaches both ends: all-select is the plain ResNet (hard sharing), all-skip
    leaves only the stem and the shortcuts."""
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("adashare", tasks, curriculum_speed=None).eval()
    hps = case.build("hps", tasks).eval()
    x, _ = case.batch(tasks)
    set_policy(model, select=True)
    # copy AdaShare's weights into the HPS backbone (same modules, other names)
    stem = model.stem
    first = hps.backbone.blocks[0]
    first.conv1.load_state_dict(stem[0].state_dict())
    first.bn1.load_state_dict(stem[1].state_dict())
    units = [u for block in hps.backbone.blocks for u in block.layer]
    for mine, theirs in zip(model.units, units):
        theirs.load_state_dict(mine.body.state_dict())
    hps.heads.load_state_dict(model.heads.state_dict())
    a, b = model(x), hps(x)
    for name in a:
        torch.testing.assert_close(a[name], b[name])
    set_policy(model, select=False)
    out = model(x)
    h = model.stem(x)
    for unit in model.units:
        h = unit.shortcut(h)
    for t, task in enumerate(tasks):
        torch.testing.assert_close(out[task.name], to_size(task, model.heads[t](h), x.shape[-2:]))
    assert not model.current_policy().any()


def test_sparsity_loss_drives_the_policy_to_all_skip(case_for):
    case = case_for("resnet18")
    model = case.build(
        "adashare", case.configs["two"], sharing_weight=0.0, sparsity_weight=1.0, curriculum_speed=None
    )
    assert model.current_policy().all()  # equal logits: argmax selects
    opt = torch.optim.Adam(model.logits.parameters(), lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        model.regularization().backward()
        opt.step()
    assert not model.current_policy().any()


def test_regularization_matches_the_formulas(case_for):
    case = case_for("resnet18")
    model = case.build(
        "adashare", case.configs["three"], sparsity_weight=0.3, sharing_weight=0.7, curriculum_speed=None
    )
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for lg in model.logits:
            lg.copy_(torch.randn(lg.shape, generator=gen))
    alpha = torch.stack([torch.softmax(lg.detach(), -1)[:, 0] for lg in model.logits])
    L = alpha.shape[1]
    sparsity = sum(-torch.log(1 - alpha[t]).mean() for t in range(3))
    w = torch.tensor([(L - l) / L for l in range(1, L + 1)])
    sharing = sum((w * (alpha[a] - alpha[b]).abs()).sum() for a in range(3) for b in range(a + 1, 3))
    torch.testing.assert_close(model.regularization().detach(), 0.3 * sparsity + 0.7 * sharing)


def test_schedules_warmup_temperature_and_curriculum(case_for, make_batch):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build(
        "adashare", tasks, warmup_epochs=1, curriculum_speed=2, init_temperature=4.0, temperature_decay=0.5
    )
    assert model.warming_up and model.regularization() is None
    x, y = case.batch(tasks)
    model.train()
    out = model(x)
    sum(t.loss(out[t.name], y[t.name]) for t in tasks).backward()
    assert all(lg.grad is None for lg in model.logits)  # warm-up: every block selected, no policy
    model.on_epoch_end(0)
    assert not model.warming_up and model.temperature == 4.0 and model.num_learned == 1
    model.zero_grad(set_to_none=True)
    out = model(x)
    sum(t.loss(out[t.name], y[t.name]) for t in tasks).backward()
    for lg in model.logits:  # only the last block's policy is learned
        assert lg.grad[:-1].abs().sum() == 0 and lg.grad[-1].abs().sum() > 0
    model.on_epoch_end(4)
    assert model.temperature == 4.0 * 0.5**4 and model.num_learned == 3
    model.on_epoch_end(100)
    assert model.num_learned == model.num_units == 8


def test_derived_config_round_trip(case_for, tmp_path):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("adashare", tasks, curriculum_speed=None)
    with torch.no_grad():
        model.logits[0][:, 1] = torch.tensor([0, 0, 0, 0, 0, 0, 9.0, 9.0])  # seg skips the last two
        model.logits[1][:, 1] = torch.tensor([0, 0, 0, 0, 0, 0, 9.0, 0])  # digit skips block 6
    cfg = model.derived_config()
    assert cfg["name"] == "adashare" and cfg["backbone"] == "resnet18"
    assert cfg["kwargs"]["policy"] == {"seg": [1, 1, 1, 1, 1, 1, 0, 0], "digit": [1, 1, 1, 1, 1, 1, 0, 1]}
    path = save_model_config(cfg, tmp_path / "found.yaml")
    assert yaml.safe_load(path.read_text())["model"] == cfg
    loaded = Config.from_yaml(path).model
    retrained = mt.create_model(loaded.name, backbone=loaded.backbone, tasks=tasks, **loaded.kwargs)
    assert retrained.units[6].body is None  # no task selects block 6: pruned
    assert {id(p) for p in retrained.units[7].body.conv1.parameters()} <= {
        id(p) for p in retrained.task_parameters("digit")
    }
    x, _ = case.batch(tasks)
    assert retrained(x)["seg"].shape == (2, 3, 32, 32)


def test_bad_policy_and_arguments(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    with pytest.raises(ValueError, match="map every task"):
        case.build("adashare", tasks, policy={"seg": [1] * 8})
    with pytest.raises(ValueError, match=r"policy\['digit'\] must be 8 values"):
        case.build("adashare", tasks, policy={"seg": [1] * 8, "digit": [1] * 7})
    with pytest.raises(ValueError, match="sparsity_weight"):
        case.build("adashare", tasks, sparsity_weight=-1)
    with pytest.raises(ValueError, match="curriculum_speed"):
        case.build("adashare", tasks, curriculum_speed=0)
    built = mt.create_model("adashare", backbone=create_backbone("resnet18", width=4), tasks=tasks)
    with pytest.raises(ValueError, match="backbone given by name"):
        built.derived_config()


def test_sampled_derived_policy_follows_the_probabilities(case_for):
    case = case_for("resnet18")
    tasks = case.configs["two"]
    model = case.build("adashare", tasks, curriculum_speed=3)  # epoch 0: only the last block is learned
    with torch.no_grad():
        model.logits[0][:, 1] = 30.0  # seg: skip everything it may
        model.logits[1][:, 0] = 30.0  # digit: select everything
    gen = torch.Generator().manual_seed(0)
    cfg = model.derived_config(sample=True, generator=gen)
    assert cfg["kwargs"]["policy"] == {"seg": [1] * 7 + [0], "digit": [1] * 8}
    with torch.no_grad():
        model.logits[0][:, 1] = 0.0
        model.logits[0][:, 0] = 0.0  # p(select) = 1/2 for seg's last block
    draws = [
        model.derived_config(sample=True, generator=gen)["kwargs"]["policy"]["seg"][-1] for _ in range(200)
    ]
    assert 70 < sum(draws) < 130
