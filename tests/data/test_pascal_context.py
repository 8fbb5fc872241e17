"""PASCAL-Context (survey layout): a fixture written in the real formats, targets re-derived by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat
from tests.data._train import fit_tiny_unet

import multitask as mt
from multitask.data.pascal_context import PASCALContext, label_map_edges
from multitask.metrics._boundary import thin
from multitask.metrics.delta import delta_m

H, W = 16, 16
SEG = {"miou": True, "pixel_acc": True, "miou_all": True}
NORMALS = {"mean_angle": False, "median_angle": False, "within_11.25": True, "within_22.5": True,
           "within_30": True}
EDGES = {"ods_f": True, "f1": True, "precision": True, "recall": True}
IDS = {"train": ["2008_000002", "2008_000003", "2008_000007"], "val": ["2008_000009", "2008_000010"]}


def _anno(person: bool) -> dict:
    part_dt = [("part_name", "O"), ("mask", "O")]
    obj_dt = [("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")]
    body = np.zeros((H, W), np.uint8)
    body[2:14, 4:12] = 1
    objs = np.zeros((1, 2), dtype=obj_dt)
    if person:
        parts = np.zeros((1, 3), dtype=part_dt)
        head, torso, lfoot = (np.zeros((H, W), np.uint8) for _ in range(3))
        head[2:5, 6:10] = 1
        torso[5:10, 4:12] = 1
        lfoot[12:14, 4:6] = 1
        parts[0, 0], parts[0, 1], parts[0, 2] = ("head", head), ("torso", torso), ("lfoot", lfoot)
        objs[0, 0] = ("person", np.array([[15]]), body, parts)
    else:
        objs[0, 0] = ("person", np.array([[15]]), body, np.zeros((0, 0)))  # a person without parts
    objs[0, 1] = ("dog", np.array([[12]]), body, np.zeros((0, 0)))
    return {"anno": {"imname": "x", "objects": objs}}


def write_pascal(root, rng: np.random.Generator) -> dict:
    truth = {}
    for d in ("JPEGImages", "semseg/pascal-context", "human_parts", "sal_distill", "normals_distill",
              "pascal-context/trainval", "ImageSets/Context"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for split, ids in IDS.items():
        (root / "ImageSets" / "Context" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        for k, i in enumerate(ids):
            image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / "JPEGImages" / f"{i}.jpg")
            seg = rng.integers(0, 21, (H, W)).astype(np.uint8)
            seg[0, :] = 255
            Image.fromarray(seg).save(root / "semseg" / "pascal-context" / f"{i}.png")
            savemat(root / "human_parts" / f"{i}.mat", _anno(person=k != 1))
            sal = rng.integers(0, 256, (H, W), dtype=np.uint8)
            Image.fromarray(sal).save(root / "sal_distill" / f"{i}.png")
            nrm = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            Image.fromarray(nrm).save(root / "normals_distill" / f"{i}.png")
            lm = np.full((H, W), 5, dtype=np.uint16)
            lm[4:12, 3:9] = 19
            lm[10:, 10:] = 400
            savemat(root / "pascal-context" / "trainval" / f"{i}.mat", {"LabelMap": lm})
            truth[i] = {"seg": seg, "sal": sal, "nrm": nrm, "lm": lm}
    return truth


@pytest.fixture
def pascal(tmp_path):
    return tmp_path, write_pascal(tmp_path, np.random.default_rng(0))


def test_items_tasks_and_split_sizes(pascal) -> None:
    root, truth = pascal
    train = mt.create_dataset("pascal_context", split="train", root=str(root))
    assert len(train) == 3 and len(mt.create_dataset("pascal_context", split="val", root=str(root))) == 2
    assert len(mt.create_dataset("pascal_context", split="test", root=str(root))) == 2  # test = val
    assert [(t.name, t.kind, t.num_outputs) for t in train.tasks] == [
        ("semseg", "segmentation", 21), ("human_parts", "segmentation", 7), ("saliency", "segmentation", 2),
        ("normals", "normals", 3), ("edges", "edges", 1)]
    image, y = train[0]
    t = truth[IDS["train"][0]]
    assert image.shape == (3, H, W) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    seg = y["semseg"].numpy()
    assert y["semseg"].dtype == torch.int64 and (seg[0] == -1).all()
    assert np.array_equal(seg[1:], t["seg"][1:].astype(np.int64))
    assert np.array_equal(y["saliency"].numpy(), (t["sal"] / 255.0 > 0.5).astype(np.int64))
    want = (2 * t["nrm"].astype(np.float64) / 255.0 - 1).transpose(2, 0, 1)
    np.testing.assert_allclose(y["normals"].numpy(), want, atol=1e-6)
    assert y["edges"].shape == (1, H, W) and set(np.unique(y["edges"].numpy())) == {0.0, 1.0}


def test_human_parts_grouping_and_ignore(pascal) -> None:
    root, _ = pascal
    ds = PASCALContext("train", str(root), tasks=["human_parts"])
    hp = ds[0][1]["human_parts"].numpy()
    want = np.zeros((H, W), np.int64)
    want[2:5, 6:10] = 1  # head -> 1
    want[5:10, 4:12] = 2  # torso -> 2
    want[12:14, 4:6] = 6  # left foot -> lower legs + feet (6)
    assert np.array_equal(hp, want)
    assert (ds[1][1]["human_parts"] == -1).all()  # person without parts: ignored, as the survey
    hp4 = PASCALContext("train", str(root), tasks=["human_parts"], num_human_parts=4)[0][1]["human_parts"]
    assert int(hp4[13, 4]) == 4 and int(hp4[6, 6]) == 2


def test_edges_are_thinned_laplacian_borders(pascal) -> None:
    root, truth = pascal
    lm = truth[IDS["train"][0]]["lm"].astype(np.float64)
    p = np.pad(lm, 1, mode="reflect")  # numpy 'reflect' = OpenCV's default REFLECT_101
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * lm
    want = thin(lap != 0).astype(np.float32)
    assert np.array_equal(label_map_edges(truth[IDS["train"][0]]["lm"]), want)
    got = PASCALContext("train", str(root), tasks=["edges"])[0][1]["edges"][0].numpy()
    assert np.array_equal(got, want) and want.sum() > 0
    assert want[0].sum() == 0  # a constant border row is not an edge


def test_normals_valid_classes_and_resize(pascal) -> None:
    root, truth = pascal
    ds = PASCALContext("train", str(root), tasks=["normals", "semseg"], normals_valid_classes=[19])
    n = ds[0][1]["normals"]
    inside = np.asarray(truth[IDS["train"][0]]["lm"] == 19)
    assert (n[:, ~inside] == 0).all() and (n[:, inside] != 0).any(dim=0).all()
    image, y = PASCALContext("train", str(root), size=(8, 12))[0]
    assert image.shape == (3, 8, 12) and y["semseg"].shape == (8, 12) and y["edges"].shape == (1, 8, 12)


def test_errors_name_the_missing_path(tmp_path, pascal) -> None:
    root, _ = pascal
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"(?s)Context/train\.txt' does not exist.*Expected layout"):
        PASCALContext("train", str(tmp_path / "empty"))
    (root / "sal_distill" / f"{IDS['val'][1]}.png").unlink()
    with pytest.raises(FileNotFoundError, match=rf"(?s){IDS['val'][1]}\.png.*Expected layout"):
        PASCALContext("val", str(root))
    PASCALContext("val", str(root), tasks=["semseg"])  # only the chosen tasks' files are needed
    with pytest.raises(ValueError, match="tasks must be"):
        PASCALContext("val", str(root), tasks=["depth"])
    bad = np.full((H, W), 30, np.uint8)
    Image.fromarray(bad).save(root / "semseg" / "pascal-context" / f"{IDS['val'][0]}.png")
    with pytest.raises(ValueError, match="label 30 outside 0..20"):
        PASCALContext("val", str(root), tasks=["semseg"])[0]


def test_survey_delta_m_on_hand_values() -> None:
    """The survey's Δm on PASCAL-Context: mean signed relative change of the 5 main metrics."""
    hib = {"semseg": SEG, "human_parts": SEG, "saliency": SEG, "normals": NORMALS, "edges": EDGES}
    single = {"semseg": 66.0, "human_parts": 60.0, "saliency": 65.0, "normals": 14.0, "edges": 72.0}
    multi = {"semseg": 63.0, "human_parts": 61.0, "saliency": 65.0, "normals": 14.7, "edges": 70.56}
    main = {"semseg": "miou_all", "human_parts": "miou_all", "saliency": "miou_all", "normals": "mean_angle",
            "edges": "ods_f"}

    def fill(v: dict) -> dict:
        return {t: {m: (v[t] if m == main[t] else 1.0) for m in hib[t]} for t in hib}

    hand = (-3 / 66 + 1 / 60 + 0 - 0.7 / 14 - 1.44 / 72) * 100 / 5
    assert delta_m(fill(multi), fill(single), hib, "vandenhende") == pytest.approx(hand)


def test_trains_end_to_end_on_the_fixture(pascal, tmp_path) -> None:
    # batch 3 = the whole train split: a batch whose human parts are all ignored would make the core
    # cross-entropy NaN (reported: multitask.core.tasks.task_loss has no guard for all-ignore batches)
    # a single-task baseline file (made-up values) as the Δm reference: the first-epoch reference of a
    # random model can be an mIoU of 0, for which Δm is undefined
    root, _ = pascal
    metrics = {"semseg": SEG, "human_parts": SEG, "saliency": SEG, "normals": NORMALS, "edges": EDGES}
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({t: dict.fromkeys(ms, 0.5) for t, ms in metrics.items()}))
    result = fit_tiny_unet("pascal_context", root, tmp_path / "run", batch_size=3, eval_batch_size=2,
                           baseline=baseline)
    assert set(result["test"]) == {"semseg", "human_parts", "saliency", "normals", "edges"}
    assert 0 <= result["test"]["semseg"]["miou_all"] <= 1 and result["test"]["normals"]["mean_angle"] > 0
    assert all(np.isfinite(v) for t in result["test"].values() for v in t.values())
