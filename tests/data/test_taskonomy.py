"""Taskonomy subset: a fixture in the release's formats (16-bit depth PNG, 127-centred normals)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from tests.data._train import fit_tiny_unet

import multitask as mt
from multitask.data.taskonomy import Taskonomy

H, W = 8, 10
BUILDINGS = {"train": ["allensville", "beechwood"], "val": ["collierville"], "test": ["darden"]}


def write_taskonomy(root, rng: np.random.Generator) -> dict:
    truth = {}
    for split, names in BUILDINGS.items():
        (root / f"{split}_models.txt").write_text("\n".join(names) + "\n")
        for b in names:
            for p in range(2):
                stem = f"point_{p}_view_{p + 3}_domain_"
                for task in ("rgb", "segment_semantic", "depth_zbuffer", "normal"):
                    (root / task / b).mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(
                    root / "rgb" / b / f"{stem}rgb.png")
                seg = rng.integers(0, 18, (H, W)).astype(np.uint8)
                Image.fromarray(seg).save(root / "segment_semantic" / b / f"{stem}segment_semantic.png")
                depth = rng.integers(512, 4096, (H, W)).astype(np.uint16)
                depth[0, :3] = 65535  # missing
                Image.fromarray(depth).save(root / "depth_zbuffer" / b / f"{stem}depth_zbuffer.png")
                normal = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
                Image.fromarray(normal).save(root / "normal" / b / f"{stem}normal.png")
                truth[(b, p)] = {"seg": seg, "depth": depth, "normal": normal}
    return truth


@pytest.fixture
def taskonomy(tmp_path):
    return tmp_path, write_taskonomy(tmp_path, np.random.default_rng(0))


def test_items_and_buildings_split(taskonomy) -> None:
    root, truth = taskonomy
    tr = mt.create_dataset("taskonomy", split="train", root=str(root))
    assert len(tr) == 4 and len(Taskonomy("val", str(root))) == 2 and len(Taskonomy("test", str(root))) == 2
    assert [(t.name, t.kind, t.num_outputs) for t in tr.tasks] == [
        ("segment_semantic", "segmentation", 18), ("depth_zbuffer", "depth", 1), ("normal", "normals", 3)]
    image, y = tr[3]  # beechwood, point 1
    t = truth[("beechwood", 1)]
    assert image.shape == (3, H, W) and float(image.max()) <= 1
    want_seg = np.where(t["seg"] == 0, -1, t["seg"].astype(np.int64))
    assert np.array_equal(y["segment_semantic"].numpy(), want_seg)
    want_depth = np.where(t["depth"] < 8192, t["depth"] / 512.0, 0.0)
    np.testing.assert_allclose(y["depth_zbuffer"][0].numpy(), want_depth, rtol=1e-6)
    assert (y["depth_zbuffer"][0, 0, :3] == 0).all() and (y["normal"][:, 0, :3] == 0).all()
    want_n = 2 * t["normal"].astype(np.float64) / 255 - 1
    np.testing.assert_allclose(y["normal"][:, 1:].numpy(), want_n[1:].transpose(2, 0, 1), atol=1e-6)
    custom = Taskonomy("val", str(root), buildings={"val": ["allensville"]}, tasks=["normal"], size=(4, 5))
    assert len(custom) == 2 and custom[0][1]["normal"].shape == (3, 4, 5) and list(custom[0][1]) == ["normal"]


def test_errors(taskonomy, tmp_path) -> None:
    root, _ = taskonomy
    (root / "depth_zbuffer" / "darden" / "point_1_view_4_domain_depth_zbuffer.png").unlink()
    missing = r"(?s)point_1_view_4_domain_depth_zbuffer\.png' does not.*1/512"
    with pytest.raises(FileNotFoundError, match=missing):
        Taskonomy("test", str(root))
    assert len(Taskonomy("test", str(root), tasks=["segment_semantic"])) == 2
    with pytest.raises(FileNotFoundError, match=r"rgb/nowhere"):
        Taskonomy("test", str(root), buildings={"test": ["nowhere"]})
    with pytest.raises(ValueError, match="label 17 >= num_classes 10"):
        Taskonomy("val", str(root), tasks=["segment_semantic"], num_classes=10)[0]


def test_trains_end_to_end(taskonomy, tmp_path) -> None:
    root, _ = taskonomy
    result = fit_tiny_unet("taskonomy", root, tmp_path / "run", batch_size=2, eval_batch_size=2,
                           kwargs={"size": [8, 8]})
    assert set(result["test"]) == {"segment_semantic", "depth_zbuffer", "normal"}
    assert torch.isfinite(torch.tensor(result["test"]["depth_zbuffer"]["rmse"]))
