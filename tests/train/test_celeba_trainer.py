"""CelebA (40 binary attributes, real file layout) through the trainer on a tiny fixture."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from multitask.train import Trainer
from multitask.train.config import Config

ATTRS = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()


@pytest.mark.parametrize(("method", "fraction"), [("mgda", None), ("famo", 0.3)])
def test_celeba_forty_attributes_train_end_to_end(tmp_path, method, fraction):
    root = tmp_path / "celeba"
    (root / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    n, partition = 34, [0] * 10 + [1] * 20 + [2] * 4
    values = rng.choice([-1, 1], size=(n, 40))
    # balanced validation labels: a near-constant untrained model must not score an accuracy of 0 on an
    # attribute (Δm against the first epoch is undefined for a zero baseline)
    values[10:30] = np.stack([rng.permutation([-1, 1] * 10) for _ in range(40)], axis=1)
    lines = [str(n), " ".join(ATTRS)]
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        Image.new("RGB", (18, 22), (7 * i, 255 - 7 * i, 100)).save(root / "img_align_celeba" / name)
        lines.append(name + " " + " ".join(f"{v:2d}" for v in values[i]))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text(
        "\n".join(f"{i + 1:06d}.jpg {p}" for i, p in enumerate(partition)) + "\n"
    )
    cfg = Config.from_dict({
        "data": {"name": "celeba", "root": str(root), "batch_size": 4, "eval_batch_size": 8,
                 "kwargs": {"size": 28}, "label_fraction": fraction},
        "model": {"name": "hps", "backbone": "lenet"},
        "method": {"name": method, "mode": "features"},
        "train": {"epochs": 1, "out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })  # fmt: skip
    result = Trainer(cfg).fit()
    assert sorted(result["test"]) == sorted(ATTRS)
    assert all(0.0 <= m["accuracy"] <= 1.0 for m in result["test"].values())
