import pytest
import torch

import multitask as mt
from multitask.models.architectures._common import to_size
from multitask.models.architectures.branched import normalize_branches
from multitask.models.sharing import save_model_config
from multitask.train.config import Config

CASES = [(bb, c) for bb in ("lenet", "resnet18") for c in ("two", "three", "five")]


@pytest.mark.parametrize("bb,config", CASES)
def test_shapes_partition_and_ew_grads(bb, config, check_architecture):
    check_architecture("learning_to_branch", bb, config)


@pytest.mark.parametrize("bb", ["lenet", "resnet18"])
def test_training_lowers_loss(bb, check_architecture_training):
    check_architecture_training("learning_to_branch", bb, "three")


def set_parents(model, parents):
    with torch.no_grad():
        for layer, choice in zip(model.parent_logits, parents):
            for j, p in enumerate(choice):
                layer[j].fill_(0.0)
                layer[j][p] = 5.0


def test_derived_tree_is_a_valid_tree(case_for):
    """The defining property: the argmax parents give one path per task, and the partitions are a tree."""
    case = case_for("resnet18")  # 4 blocks
    tasks = case.configs["five"]
    model = case.build("learning_to_branch", tasks, widths=[2, 3, 4, 5])
    # block 1 nodes -> block 0 parents, block 2 -> block 1, leaves -> block 2
    set_parents(model, [[0, 1, 1], [0, 1, 1, 2], [0, 0, 1, 2, 2]])
    assert model.paths() == [[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 2], [1, 1, 2, 3], [1, 1, 2, 4]]
    branches = model.derived_branches()
    assert branches == [
        [[0, 1], [2, 3, 4]],
        [[0, 1], [2, 3, 4]],
        [[0, 1], [2], [3, 4]],
        [[0], [1], [2], [3], [4]],
    ]
    assert normalize_branches(branches, model.task_names, 4)  # accepted by `branched`
    for trial in range(5):  # random logits: always a valid tree
        torch.manual_seed(trial)
        with torch.no_grad():
            for layer in model.parent_logits:
                for lg in layer:
                    lg.normal_()
        normalize_branches(model.derived_branches(), model.task_names, 4)


def test_eval_forward_follows_the_derived_paths(case_for):
    case = case_for("lenet")
    tasks = case.configs["three"]
    model = case.build("learning_to_branch", tasks).eval()
    set_parents(model, [[1, 1, 0], [2, 0, 0]])
    x, _ = case.batch(tasks)
    out = model(x)
    for t, (task, path) in enumerate(zip(tasks, model.paths())):
        h = x
        for l, node in enumerate(path):
            _, h = model.nodes[l][node](h, {})
        torch.testing.assert_close(out[task.name], to_size(task, model.heads[t](h), x.shape[-2:]))


def test_derived_config_trains_as_branched(case_for, tmp_path):
    case = case_for("lenet")
    tasks = case.configs["three"]
    model = case.build("learning_to_branch", tasks)
    set_parents(model, [[0, 0, 0], [0, 0, 1]])
    cfg = model.derived_config()
    assert cfg["name"] == "branched" and cfg["kwargs"]["branches"] == [
        [[0, 1, 2]],
        [[0, 1], [2]],
        [[0], [1], [2]],
    ]
    loaded = Config.from_yaml(save_model_config(cfg, tmp_path / "tree.yaml")).model
    branched = mt.create_model(loaded.name, backbone=loaded.backbone, tasks=tasks, **loaded.kwargs)
    x, _ = case.batch(tasks)
    assert branched(x)["digit"].shape == (2, 4)


def test_temperature_schedule_and_bad_widths(case_for):
    case = case_for("lenet")
    tasks = case.configs["two"]
    model = case.build("learning_to_branch", tasks, init_temperature=2.0, temperature_decay=0.5)
    model.on_epoch_end(2)
    assert model.temperature == 2.0 * 0.5**3
    with pytest.raises(ValueError, match="one node per task"):
        case.build("learning_to_branch", tasks, widths=[2, 2, 3])
    with pytest.raises(ValueError, match="one per block"):
        case.build("learning_to_branch", tasks, widths=[2, 2])
