from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from multitask.data import create_dataset
from multitask.data._mtan import scale_crop_flip

H, W = 6, 8


def _write_split(folder: Path, n: int, folders: dict[str, int], rng: np.random.Generator) -> dict:
    """Write ``n`` samples in MTAN layout (H x W x C, labels H x W) and return what was written."""
    written: dict[str, list[np.ndarray]] = {name: [] for name in folders}
    for name, channels in folders.items():
        (folder / name).mkdir(parents=True)
        for i in range(n):
            if name.startswith("label"):
                arr = rng.integers(-1, 7, size=(H, W)).astype(np.float32)
            elif name == "depth":
                arr = rng.uniform(0.5, 5.0, size=(H, W, 1)).astype(np.float32)
                arr[0, 0, 0] = 0.0  # an invalid pixel
            elif name == "normal":
                v = rng.normal(size=(H, W, 3))
                arr = (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)
            else:
                arr = rng.uniform(0, 1, size=(H, W, channels)).astype(np.float32)
            np.save(folder / name / f"{i}.npy", arr)
            written[name].append(arr)
    return written


NYU = {"image": 3, "label": 0, "depth": 1, "normal": 3}


@pytest.fixture
def nyu_root(tmp_path: Path) -> tuple[Path, dict, dict]:
    rng = np.random.default_rng(0)
    train = _write_split(tmp_path / "train", 3, NYU, rng)
    val = _write_split(tmp_path / "val", 2, NYU, rng)
    return tmp_path, train, val


def test_nyuv2_round_trip(nyu_root) -> None:
    root, train, val = nyu_root
    ds = create_dataset("nyuv2", split="train", root=str(root))
    assert len(ds) == 3 and [(t.name, t.kind, t.num_outputs) for t in ds.tasks] == [
        ("segmentation", "segmentation", 13), ("depth", "depth", 1), ("normals", "normals", 3)]
    x, y = ds[1]
    assert x.dtype == torch.float32 and x.shape == (3, H, W)
    np.testing.assert_array_equal(x.numpy(), train["image"][1].transpose(2, 0, 1))
    assert y["segmentation"].dtype == torch.int64 and y["segmentation"].shape == (H, W)
    np.testing.assert_array_equal(y["segmentation"].numpy(), train["label"][1].astype(np.int64))
    assert (y["segmentation"] == -1).any()
    np.testing.assert_array_equal(y["depth"].numpy(), train["depth"][1].transpose(2, 0, 1))
    np.testing.assert_array_equal(y["normals"].numpy(), train["normal"][1].transpose(2, 0, 1))
    # MTAN has no test split: "test" reads val/
    test = create_dataset("nyuv2", split="test", root=str(root))
    assert len(test) == 2
    np.testing.assert_array_equal(test[0][0].numpy(), val["image"][0].transpose(2, 0, 1))
    xb, yb = next(iter(DataLoader(ds, batch_size=2)))
    assert xb.shape == (2, 3, H, W) and yb["depth"].shape == (2, 1, H, W)
    assert yb["segmentation"].shape == (2, H, W)


def test_nyuv2_errors_name_the_path(nyu_root, tmp_path: Path) -> None:
    root, _, _ = nyu_root
    with pytest.raises(ValueError, match="(?s)root=None.*train/"):
        create_dataset("nyuv2", split="train")
    with pytest.raises(FileNotFoundError, match="(?s)nowhere.*normal/0.npy"):
        create_dataset("nyuv2", root=str(root / "nowhere"))
    with pytest.raises(ValueError, match="'dev'"):
        create_dataset("nyuv2", split="dev", root=str(root))
    (root / "train" / "normal" / "1.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"normal.*misses \[1\]"):
        create_dataset("nyuv2", root=str(root))
    np.save(root / "val" / "depth" / "1.npy", np.ones((H, W + 1, 1), np.float32))
    ds = create_dataset("nyuv2", split="val", root=str(root))
    with pytest.raises(ValueError, match=r"depth/1.npy.*shape \(6, 9, 1\)"):
        ds[1]
    np.save(root / "val" / "label" / "0.npy", np.full((H, W), 13.0, np.float32))
    with pytest.raises(ValueError, match="labels >= 13"):
        ds[0]


def test_cityscapes_round_trip_7_and_19(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    written = _write_split(tmp_path / "train", 2, {"image": 3, "label_7": 0, "label_19": 0, "depth": 1}, rng)
    _write_split(tmp_path / "val", 1, {"image": 3, "label_7": 0, "depth": 1}, rng)
    ds = create_dataset("cityscapes", split="train", root=str(tmp_path))
    assert [t.name for t in ds.tasks] == ["segmentation", "depth"] and ds.tasks[0].num_outputs == 7
    x, y = ds[0]
    assert set(y) == {"segmentation", "depth"}
    np.testing.assert_array_equal(y["segmentation"].numpy(), written["label_7"][0].astype(np.int64))
    ds19 = create_dataset("cityscapes", split="train", root=str(tmp_path), num_classes=19)
    assert ds19.tasks[0].num_outputs == 19
    np.testing.assert_array_equal(ds19[1][1]["segmentation"].numpy(), written["label_19"][1].astype(np.int64))
    assert len(create_dataset("cityscapes", split="test", root=str(tmp_path))) == 1
    with pytest.raises(FileNotFoundError, match="label_19"):
        create_dataset("cityscapes", split="val", root=str(tmp_path), num_classes=19)
    with pytest.raises(ValueError, match="7 or 19"):
        create_dataset("cityscapes", root=str(tmp_path), num_classes=13)


def test_scale_crop_flip_hand_checks() -> None:
    h, w = 12, 16
    ramp = torch.arange(w, dtype=torch.float32).expand(3, h, w).clone()
    normals = torch.tensor([0.6, 0.0, 0.8]).view(3, 1, 1).expand(3, h, w).clone()
    depth = torch.full((1, h, w), 3.0)
    seg = (torch.arange(w) % 3).expand(h, w).clone()
    flips = set()
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        img, t = scale_crop_flip(ramp, {"depth": depth, "normals": normals, "segmentation": seg},
                                 scales=(2.0,), generator=g)
        assert img.shape == (3, h, w) and t["depth"].shape == (1, h, w)
        assert t["segmentation"].dtype == torch.int64
        torch.testing.assert_close(t["depth"], torch.full((1, h, w), 1.5))  # depth / scale
        row = img[0, 0]
        flipped = bool(row[0] > row[-1])
        flips.add(flipped)
        # bilinear with aligned corners keeps the ramp linear: a crop of int(16 / 2) = 8 columns
        step = torch.full((w - 1,), (8 - 1) / (w - 1)) * (-1 if flipped else 1)
        torch.testing.assert_close(row.diff(), step)
        assert float(row.min()) >= 0 and float(row.max()) <= w - 1
        # the x channel of the normals is negated exactly when the image is flipped
        torch.testing.assert_close(t["normals"][0], torch.full((h, w), -0.6 if flipped else 0.6))
        assert set(t["segmentation"].unique().tolist()) <= {0, 1, 2}
    assert flips == {True, False}


def test_augment_flag_uses_global_seed(nyu_root) -> None:
    root, _, _ = nyu_root
    ds = create_dataset("nyuv2", split="train", root=str(root), augment=True)
    torch.manual_seed(0)
    a = ds[0]
    torch.manual_seed(0)
    b = ds[0]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["normals"], b[1]["normals"])
    assert a[0].shape == (3, H, W) and a[1]["segmentation"].shape == (H, W)


def test_cityscapes_reads_libmtl_label_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    written = _write_split(tmp_path / "train", 2, {"image": 3, "label": 0, "depth": 1}, rng)
    _write_split(tmp_path / "val", 1, {"image": 3, "label": 0, "depth": 1}, rng)
    ds = create_dataset("cityscapes", split="train", root=str(tmp_path))
    assert ds.label_folder == "label" and ds.tasks[0].num_outputs == 7
    x, y = ds[1]
    np.testing.assert_array_equal(y["segmentation"].numpy(), written["label"][1].astype(np.int64))
    np.testing.assert_array_equal(y["depth"].numpy(), written["depth"][1].transpose(2, 0, 1))
    assert len(create_dataset("cityscapes", split="test", root=str(tmp_path))) == 1
    # label/ is LibMTL's 7-class folder only: 19 classes still need label_19/, and the error says so
    with pytest.raises(FileNotFoundError, match="(?s)label_19.*LibMTL"):
        create_dataset("cityscapes", split="train", root=str(tmp_path), num_classes=19)
    # an explicit folder name wins; label_7/ is preferred when both exist
    _write_split(tmp_path / "val2", 1, {"image": 3, "label": 0, "label_7": 0, "depth": 1}, rng)
    (tmp_path / "val").rename(tmp_path / "val_libmtl")
    (tmp_path / "val2").rename(tmp_path / "val")
    assert create_dataset("cityscapes", split="val", root=str(tmp_path)).label_folder == "label_7"
    explicit = create_dataset("cityscapes", split="val", root=str(tmp_path), label_folder="label")
    assert explicit.label_folder == "label"


def test_scale_crop_flip_resizes_normals_bilinearly() -> None:
    # MTAN/LibMTL resize normals bilinearly with aligned corners: a linear ramp stays linear
    h, w = 12, 16
    normals = torch.zeros(3, h, w)
    normals[0] = torch.arange(w, dtype=torch.float32) * 0.01
    normals[2] = 1.0
    for seed in range(6):
        g = torch.Generator().manual_seed(seed)
        img, t = scale_crop_flip(torch.zeros(3, h, w), {"normals": normals}, scales=(2.0,), generator=g)
        row = t["normals"][0, 0]
        # output column k samples crop column k (8 - 1) / (w - 1) (a flip reverses and negates x)
        step = torch.full((w - 1,), 0.01 * (8 - 1) / (w - 1))
        torch.testing.assert_close(row.diff().abs(), step)  # nearest would give steps of 0 and 0.01
        torch.testing.assert_close(t["normals"][2], torch.ones(h, w))
