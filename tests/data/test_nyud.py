"""NYUD-v2 in the dense MTL survey's layout: a fixture in the real formats, targets checked by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tests.data._train import fit_tiny_unet

import multitask as mt
from multitask.data.nyud import NYUD
from multitask.metrics.delta import delta_m

H, W = 16, 16
IDS = {"train": ["0003", "0004", "0008", "0011"], "val": ["0001", "0002"]}


def write_nyud(root, rng: np.random.Generator) -> dict:
    for d in ("images", "segmentation", "depth", "normals", "edge", "gt_sets"):
        (root / d).mkdir(parents=True, exist_ok=True)
    truth = {}
    for split, ids in IDS.items():
        (root / "gt_sets" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for i in ids:
            image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / "images" / f"{i}.jpg")
            seg = rng.integers(0, 41, (H, W)).astype(np.uint8)
            Image.fromarray(seg).save(root / "segmentation" / f"{i}.png")
            depth = rng.uniform(0.5, 10, (H, W)).astype(np.float32)
            depth[:2] = 0
            np.save(root / "depth" / f"{i}.npy", depth)
            n = rng.normal(size=(H, W, 3)).astype(np.float32)
            n /= np.linalg.norm(n, axis=2, keepdims=True)
            n[-1] = 0
            np.save(root / "normals" / f"{i}.npy", n)
            np.save(root / "edge" / f"{i}.npy", (rng.random((H, W)) < 0.2).astype(np.float32))
            truth[i] = {"seg": seg, "depth": depth, "normals": n}
    return truth


@pytest.fixture
def nyud(tmp_path):
    return tmp_path, write_nyud(tmp_path, np.random.default_rng(1))


def test_items_ignore_values_and_split_sizes(nyud) -> None:
    root, truth = nyud
    train = mt.create_dataset("nyud", split="train", root=str(root))
    assert len(train) == 4 and len(NYUD("val", str(root))) == 2 and len(NYUD("test", str(root))) == 2
    assert [(t.name, t.kind, t.num_outputs) for t in train.tasks] == [
        ("semseg", "segmentation", 40), ("depth", "depth", 1), ("normals", "normals", 3),
        ("edges", "edges", 1)]
    image, y = train[1]
    t = truth[IDS["train"][1]]
    assert image.shape == (3, H, W) and 0 <= float(image.min()) <= float(image.max()) <= 1
    seg = y["semseg"].numpy()
    assert y["semseg"].dtype == torch.int64
    assert np.array_equal(seg, np.where(t["seg"] == 0, -1, t["seg"].astype(np.int64) - 1))
    assert seg.min() == -1 and seg.max() <= 39
    assert torch.equal(y["depth"][0], torch.from_numpy(t["depth"])) and (y["depth"][0, :2] == 0).all()
    assert y["normals"].shape == (3, H, W) and (y["normals"][:, -1] == 0).all()
    assert y["edges"].shape == (1, H, W) and set(np.unique(y["edges"])) <= {0.0, 1.0}


def test_errors(nyud, tmp_path) -> None:
    root, _ = nyud
    with pytest.raises(ValueError, match="root=None"):
        NYUD("train", None)
    (root / "depth" / f"{IDS['val'][0]}.npy").unlink()
    with pytest.raises(FileNotFoundError, match=rf"(?s){IDS['val'][0]}\.npy' does not exist.*gt_sets"):
        NYUD("val", str(root))
    assert len(NYUD("val", str(root), tasks=["semseg", "edges"])) == 2
    np.save(root / "edge" / f"{IDS['val'][1]}.npy", np.full((H, W), 0.5, np.float32))
    with pytest.raises(ValueError, match="edges must be 0 or 1"):
        NYUD("val", str(root), tasks=["edges"])[1]
    np.save(root / "edge" / f"{IDS['val'][1]}.npy", np.zeros((H, W + 1), np.float32))
    with pytest.raises(ValueError, match="is 16 x 17, but its image is 16 x 16"):
        NYUD("val", str(root), tasks=["edges"])[1]


def test_survey_delta_m_on_hand_values() -> None:
    """Survey Δm on NYUD: semseg mIoU, depth RMSE, normals mean angle, edges ODS-F."""
    hib = {"semseg": {"miou": True, "pixel_acc": True, "miou_all": True},
           "depth": {"abs_err": False, "rel_err": False, "rmse": False, "delta1": True},
           "normals": {"mean_angle": False, "median_angle": False, "within_11.25": True, "within_22.5": True,
                       "within_30": True},
           "edges": {"ods_f": True, "f1": True, "precision": True, "recall": True}}
    main = {"semseg": "miou_all", "depth": "rmse", "normals": "mean_angle", "edges": "ods_f"}
    single = {"semseg": 43.9, "depth": 0.585, "normals": 19.8, "edges": 76.8}
    multi = {"semseg": 44.4, "depth": 0.59, "normals": 19.4, "edges": 76.0}

    def fill(v: dict) -> dict:
        return {t: {m: (v[t] if m == main[t] else 1.0) for m in hib[t]} for t in hib}

    hand = 100 / 4 * (0.5 / 43.9 - 0.005 / 0.585 + 0.4 / 19.8 - 0.8 / 76.8)
    assert delta_m(fill(multi), fill(single), hib, "vandenhende") == pytest.approx(hand)


def test_trains_end_to_end_on_the_fixture(nyud, tmp_path) -> None:
    root, _ = nyud
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({
        "semseg": {"miou": 0.5, "pixel_acc": 0.5, "miou_all": 0.5},
        "depth": {"abs_err": 1.0, "rel_err": 1.0, "rmse": 1.0, "delta1": 0.5},
        "normals": {"mean_angle": 30.0, "median_angle": 30.0, "within_11.25": 0.5, "within_22.5": 0.5,
                    "within_30": 0.5},
        "edges": {"ods_f": 0.5, "f1": 0.5, "precision": 0.5, "recall": 0.5}}))
    result = fit_tiny_unet("nyud", root, tmp_path / "run", batch_size=2, eval_batch_size=2, baseline=baseline)
    assert set(result["test"]) == {"semseg", "depth", "normals", "edges"}
    assert result["test"]["depth"]["rmse"] > 0 and np.isfinite(result["val_delta_m"])
