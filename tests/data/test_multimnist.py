from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from multitask.data import create_dataset
from multitask.data._common import ASSETS
from multitask.data.multimnist import MultiMNIST, compose, read_idx


@pytest.fixture(autouse=True)
def _cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTITASK_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)


def _write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _small_kwargs() -> dict[str, int]:
    return {"n_train": 300, "n_val": 100, "n_test": 200}


def test_shipped_files_are_the_official_mnist_test_set() -> None:
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (ASSETS / "mnist").glob("*.gz")}
    assert md5 == {"t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                   "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
    labels = read_idx(ASSETS / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert "CC BY-SA 3.0" in (ASSETS / "mnist" / "README.md").read_text()


def test_items_shapes_dtypes_and_labels() -> None:
    ds = create_dataset("multimnist", split="val", **_small_kwargs())
    assert len(ds) == 100 and [t.name for t in ds.tasks] == ["left", "right"]
    assert all(t.kind == "classification" and t.num_outputs == 10 for t in ds.tasks)
    x, y = ds[0]
    assert x.dtype == torch.float32 and x.shape == (1, 28, 28) and 0 <= x.min() and x.max() <= 1
    assert y["left"].dtype == torch.int64 and y["left"].shape == ()
    assert bool((ds.left != ds.right).all())
    labels = read_idx(ASSETS / "mnist" / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(ds.left.numpy(), labels[ds.left_index])
    np.testing.assert_array_equal(ds.right.numpy(), labels[ds.right_index])
    xb, yb = next(iter(DataLoader(ds, batch_size=8)))
    assert xb.shape == (8, 1, 28, 28) and yb["right"].shape == (8,)
    big = create_dataset("multimnist", split="test", size=36, **_small_kwargs())
    assert big[0][0].shape == (1, 36, 36)


def test_splits_use_disjoint_source_images_and_default_sizes() -> None:
    sets = {}
    for split in ("train", "val", "test"):
        ds = MultiMNIST(split=split)
        sets[split] = set(ds.left_index.tolist()) | set(ds.right_index.tolist())
        # every pool image is the left digit of exactly one sample
        assert len(set(ds.left_index.tolist())) == len(ds)
    assert {k: len(v) for k, v in sets.items()} == {"train": 7000, "val": 1000, "test": 2000}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"])
    assert not (sets["val"] & sets["test"])


def test_deterministic_and_cache_round_trip(tmp_path: Path) -> None:
    a = MultiMNIST(split="train", cache=False, **_small_kwargs())
    b = MultiMNIST(split="train", cache_dir=str(tmp_path / "c"), **_small_kwargs())
    c = MultiMNIST(split="train", cache_dir=str(tmp_path / "c"), **_small_kwargs())  # from the cache
    assert b.cache_path is not None and b.cache_path.is_file()
    for other in (b, c):
        assert torch.equal(a.images, other.images) and torch.equal(a.left, other.left)
    d = MultiMNIST(split="train", seed=1, cache=False, **_small_kwargs())
    assert not torch.equal(a.images, d.images)


@pytest.mark.parametrize("damage", ["truncate", "tamper", "garbage"])
def test_corrupt_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    ref = MultiMNIST(split="val", cache_dir=str(tmp_path), **_small_kwargs())
    path = ref.cache_path
    assert path is not None
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file")
    else:  # a well-formed npz whose arrays no longer match the stored checksum
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["left"] = (arrays["left"] + 1) % 10
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    again = MultiMNIST(split="val", cache_dir=str(tmp_path), **_small_kwargs())
    assert torch.equal(again.left, ref.left) and torch.equal(again.images, ref.images)
    assert path.read_bytes() == raw  # the rebuilt cache replaced the damaged file
    assert not list(tmp_path.glob("*.tmp"))


def test_compose_hand_worked_positions() -> None:
    left = np.zeros((1, 28, 28), np.uint8)
    right = np.zeros((1, 28, 28), np.uint8)
    left[0, 0, 0] = 200
    left[0, 10, 10] = 50
    right[0, 0, 0] = 100
    right[0, 3, 2] = 90
    out = compose(left, right, np.array([[1, 2]]), np.array([[2, 0]]), size=36)
    assert out.shape == (1, 36, 36)
    expected = np.zeros((36, 36), np.uint8)
    expected[1, 2] = 200  # left (0, 0) + shift (1, 2)
    expected[11, 12] = 50  # left (10, 10) + shift (1, 2)
    expected[8, 6] = 100  # right (0, 0) + 6 + shift (2, 0)
    expected[11, 8] = 90  # right (3, 2) + (8, 6)
    np.testing.assert_array_equal(out[0], expected)
    # overlap takes the maximum
    left2 = np.full((1, 28, 28), 30, np.uint8)
    right2 = np.full((1, 28, 28), 70, np.uint8)
    both = compose(left2, right2, np.zeros((1, 2), int), np.zeros((1, 2), int), size=36)[0]
    assert both[0, 0] == 30 and both[10, 10] == 70 and both[35, 35] == 0 and both[33, 33] == 70
    # area resize 36 -> 28 keeps a constant region constant and is the mean elsewhere
    small = compose(left2, right2, np.zeros((1, 2), int), np.zeros((1, 2), int), size=28)[0]
    assert small[0, 0] == 30 and small[13, 13] == 70 and small[27, 27] == 0


def test_custom_root_fixture_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 28, 28)).astype(np.uint8)
    labels = np.arange(40) % 10
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", images)  # uncompressed is accepted too
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    np.testing.assert_array_equal(read_idx(tmp_path / "t10k-images-idx3-ubyte"), images)
    ds = MultiMNIST(split="test", root=str(tmp_path), n_train=20, n_val=10, n_test=10, cache=False)
    assert len(ds) == 10 and bool((ds.left != ds.right).all())
    np.testing.assert_array_equal(ds.left.numpy(), labels[ds.left_index])
    with pytest.raises(ValueError, match="exceeds the 40 source images"):
        MultiMNIST(root=str(tmp_path), n_train=30, n_val=10, n_test=10, cache=False)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x05ab"))
    with pytest.raises(ValueError, match="header says"):
        MultiMNIST(root=str(tmp_path), n_train=20, n_val=10, n_test=10, cache=False)
    with pytest.raises(FileNotFoundError, match="labels-idx1-ubyte"):
        MultiMNIST(root=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="'dev'.*train, val, test"):
        MultiMNIST(split="dev")
    with pytest.raises(ValueError, match="size"):
        MultiMNIST(size=32)


def _sener_koltun_reference(images: np.ndarray, left: int, right: int) -> np.ndarray:
    """Their loop body, re-derived: 36x36 canvas, left at (0, 0), right at (6, 6), maximum where they
    overlap, then scipy.misc.imresize(..., (28, 28), 'nearest') = byte scaling + PIL NEAREST."""
    from PIL import Image

    new = np.zeros((36, 36))
    new[0:28, 0:28] = images[left]
    new[6:34, 6:34] = images[right]
    new[6:28, 6:28] = np.maximum(images[left][6:28, 6:28], images[right][0:22, 0:22])
    scaled = np.floor((new - new.min()) * 255.0 / (new.max() - new.min()) + 0.5).astype(np.uint8)
    return np.asarray(Image.fromarray(scaled).resize((28, 28), Image.NEAREST))


def test_sener_koltun_construction(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    sources = {}
    for prefix, n in (("train", 30), ("t10k", 20)):
        images = (rng.random((n, 28, 28)) < 0.2) * rng.integers(50, 200, size=(n, 28, 28))
        labels = rng.integers(0, 10, n)
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", labels)
        sources[prefix] = (images.astype(np.uint8), labels)
    kw = {"root": str(tmp_path), "construction": "sener_koltun", "cache": False}
    train = MultiMNIST(split="train", **kw)
    test = MultiMNIST(split="test", **kw)
    assert len(train) == 30 and len(test) == 20  # every image of its source set is a left digit once
    for ds, prefix in ((train, "train"), (test, "t10k")):
        images, labels = sources[prefix]
        np.testing.assert_array_equal(ds.left_index, np.arange(len(images)))
        np.testing.assert_array_equal(ds.left.numpy(), labels)
        np.testing.assert_array_equal(ds.right.numpy(), labels[ds.right_index])
        for i in (0, 7, len(ds) - 1):
            expected = _sener_koltun_reference(images, int(ds.left_index[i]), int(ds.right_index[i]))
            np.testing.assert_array_equal(ds.images[i].numpy(), expected)
            torch.testing.assert_close(ds[i][0][0], torch.tensor(expected, dtype=torch.float32) / 255)
    # val reads the test images, as their code validates on the test set; partners are seeded per split
    val = MultiMNIST(split="val", **kw)
    np.testing.assert_array_equal(val.left.numpy(), test.left.numpy())
    assert not np.array_equal(val.right_index, test.right_index)
    np.testing.assert_array_equal(MultiMNIST(split="test", **kw).right_index, test.right_index)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        MultiMNIST(split="train", construction="sener_koltun", cache=False)
    with pytest.raises(ValueError, match="construction"):
        MultiMNIST(split="test", construction="sabour", cache=False)
