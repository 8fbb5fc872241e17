"""SYNTHIA-RAND-CITYSCAPES: a fixture in the release's formats (16-bit colour label and depth PNGs, written
with pypng, the reader the loader uses for them)."""

from __future__ import annotations

import sys

import numpy as np
import png
import pytest
import torch
from PIL import Image
from tests.data._train import fit_tiny_unet

import multitask as mt
from multitask.data._png16 import read_png16
from multitask.data.synthia import Synthia, class_names

H, W = 6, 7
NAMES = [f"{i:07d}.png" for i in range(10)]

# SYNTHIA id -> label, as ADVENT's / DADA's SYNTHIA loaders map it (16 classes); unlisted ids are ignored.
ADVENT16 = {3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 1: 9, 10: 10, 17: 11, 8: 12, 19: 13,
            12: 14, 11: 15}
# The 13-class protocol keeps the 16 classes less wall (3), fence (4) and pole (5), renumbered in order.
KEEP13 = [0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
# Cityscapes' 19 trainIds (MuHDi / MTAF SYNTHIA loaders).
CITY19 = {3: 0, 4: 1, 2: 2, 21: 3, 5: 4, 7: 5, 15: 6, 9: 7, 6: 8, 16: 9, 1: 10, 10: 11, 17: 12, 8: 13, 18: 14,
          19: 15, 20: 16, 12: 17, 11: 18}


def write_png16(path, arr: np.ndarray) -> None:
    """A 16-bit colour PNG, as the release stores labels and depth."""
    h, w, c = arr.shape
    writer = png.Writer(width=w, height=h, greyscale=False, alpha=c == 4, bitdepth=16)
    with open(path, "wb") as f:
        writer.write(f, arr.reshape(h, w * c).tolist())


def write_synthia(root, rng: np.random.Generator) -> dict:
    for sub in ("RGB", "GT/LABELS", "Depth/Depth"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    truth = {}
    for i, name in enumerate(NAMES):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "RGB" / name)
        cls = np.arange(H * W).reshape(H, W) % 23 if i == 0 else rng.integers(0, 23, (H, W))
        label = np.stack([cls, rng.integers(0, 4000, (H, W)), np.zeros((H, W), np.int64)], -1)
        write_png16(root / "GT" / "LABELS" / name, label.astype(np.uint16))
        cm = rng.integers(150, 65000, (H, W))
        cm[0, :2] = 0
        write_png16(root / "Depth" / "Depth" / name, np.repeat(cm[..., None], 3, -1).astype(np.uint16))
        truth[name] = {"cls": cls, "cm": cm}
    return truth


@pytest.fixture
def synthia(tmp_path):
    return tmp_path, write_synthia(tmp_path, np.random.default_rng(0))


def _mapped(cls: np.ndarray, table: dict[int, int]) -> np.ndarray:
    return np.vectorize(lambda c: table.get(int(c), -1))(cls)


def test_labels_and_depth_in_metres(synthia) -> None:
    root, truth = synthia
    (root / "val.txt").write_text("0000000\n0000003.png\n")
    ds = mt.create_dataset("synthia", split="val", root=str(root))
    assert ds.names == ["0000000.png", "0000003.png"]
    assert [(t.name, t.kind, t.num_outputs) for t in ds.tasks] == [("segmentation", "segmentation", 16),
                                                                   ("depth", "depth", 1)]
    image, y = ds[0]
    assert image.shape == (3, H, W) and image.dtype == torch.float32 and float(image.max()) <= 1
    cls = truth["0000000.png"]["cls"]  # every SYNTHIA id 0..22 appears
    assert np.array_equal(y["segmentation"].numpy(), _mapped(cls, ADVENT16))
    assert int(y["segmentation"].max()) == 15 and int(y["segmentation"].min()) == -1
    depth = y["depth"]
    assert depth.shape == (1, H, W) and depth.dtype == torch.float32
    np.testing.assert_allclose(depth[0].numpy(), truth["0000000.png"]["cm"] / 100.0, rtol=1e-6)
    assert (depth[0, 0, :2] == 0).all() and float(depth.max()) > 300  # the high byte alone would be <= 2.55 m
    seg13 = Synthia("val", str(root), num_classes=13, tasks=["segmentation"])[0][1]
    assert list(seg13) == ["segmentation"]
    want13 = {k: KEEP13.index(v) for k, v in ADVENT16.items() if v in KEEP13}
    assert np.array_equal(seg13["segmentation"].numpy(), _mapped(cls, want13))
    assert np.array_equal(Synthia("val", str(root), num_classes=19)[0][1]["segmentation"].numpy(),
                          _mapped(cls, CITY19))
    assert class_names(13)[3] == "traffic light" and len(class_names(19)) == 19
    capped = Synthia("val", str(root), tasks=["depth"], max_depth=300.0, size=(3, 4))[1][1]["depth"]
    assert capped.shape == (1, 3, 4) and float(capped.max()) <= 300.0


def test_splits(synthia) -> None:
    root, _ = synthia
    parts = {s: Synthia(s, str(root)).names for s in ("train", "val", "test")}
    assert [len(v) for v in parts.values()] == [8, 1, 1]
    assert sorted(sum(parts.values(), [])) == NAMES
    assert Synthia("train", str(root), seed=1).names != parts["train"]
    chosen = Synthia("test", str(root), ids={"test": ["0000004", "0000009"]})
    assert chosen.names == ["0000004.png", "0000009.png"] and len(chosen) == 2
    (root / "train.txt").write_text("0000002.png\n")
    assert Synthia("train", str(root)).names == ["0000002.png"]


def test_errors(synthia, monkeypatch) -> None:
    root, _ = synthia
    (root / "Depth" / "Depth" / "0000005.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"(?s)Depth/0000005\.png' does not exist.*centimetres"):
        Synthia("test", str(root), ids={"test": ["0000005"]})
    assert len(Synthia("test", str(root), ids={"test": ["0000005"]}, tasks=["segmentation"])) == 1
    with pytest.raises(ValueError, match="num_classes must be 19, 16 or 13"):
        Synthia("train", str(root), num_classes=7)
    with pytest.raises(ValueError, match="tasks must be distinct"):
        Synthia("train", str(root), tasks=["normals"])
    bad = np.zeros((H, W, 3), np.uint16)
    bad[1, 1, 0] = 30
    write_png16(root / "GT" / "LABELS" / "0000006.png", bad)
    with pytest.raises(ValueError, match=r"0000006\.png' has class id 30"):
        Synthia("test", str(root), ids={"test": ["0000006"]}, tasks=["segmentation"])[0]
    monkeypatch.setitem(sys.modules, "png", None)
    with pytest.raises(ImportError, match=r"16-bit colour PNG.*pip install 'multitask\[png16\]'"):
        read_png16(root / "GT" / "LABELS" / "0000001.png", "synthia")


def test_png16_reader_keeps_every_bit(tmp_path) -> None:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 65536, (4, 5, 4)).astype(np.uint16)
    write_png16(tmp_path / "rgba.png", rgba)
    assert np.array_equal(read_png16(tmp_path / "rgba.png", "t"), rgba)
    grey = rng.integers(0, 65536, (4, 5)).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "grey.png")  # 16-bit grey: Pillow keeps it whole
    assert np.array_equal(read_png16(tmp_path / "grey.png", "t"), grey)
    (tmp_path / "no.png").write_bytes(b"not a png at all, not a png at all")
    with pytest.raises(ValueError, match="is not a PNG file"):
        read_png16(tmp_path / "no.png", "t")


def test_trains_end_to_end(synthia, tmp_path) -> None:
    root, _ = synthia
    result = fit_tiny_unet("synthia", root, tmp_path / "run", batch_size=4, eval_batch_size=4,
                           kwargs={"size": [8, 8]})
    assert set(result["test"]) == {"segmentation", "depth"}
    assert torch.isfinite(torch.tensor(result["test"]["depth"]["rmse"]))
