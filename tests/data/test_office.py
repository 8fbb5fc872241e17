from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from multitask.data import create_dataset

CLASSES = ("back_pack", "bike", "mug")


def _make(root: Path, domains: tuple[str, ...], per_class: int = 5, sub: str = "") -> None:
    for d, domain in enumerate(domains):
        for c, cls in enumerate(CLASSES):
            folder = root / domain / sub / cls
            folder.mkdir(parents=True)
            for i in range(per_class):
                # colour codes (domain, class) so a decoded item can be checked against its label
                Image.new("RGB", (10, 12), (60 * d, 100 * c, 10 * i)).save(folder / f"frame_{i:04d}.png")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_office31_splits_items_and_multi_input(tmp_path: Path) -> None:
    _make(tmp_path, ("amazon", "dslr", "webcam"), per_class=5)
    parts = {s: create_dataset("office31", split=s, root=str(tmp_path), num_classes=3, size=16)
             for s in ("train", "val", "test")}
    train = parts["train"]
    assert train.multi_input is True and list(train.domains) == ["amazon", "dslr", "webcam"]
    assert [(t.name, t.kind, t.num_outputs) for t in train.tasks] == [
        ("amazon", "classification", 3), ("dslr", "classification", 3), ("webcam", "classification", 3)]
    # 5 images per class: round(0.6 * 5) = 3 train, round(0.2 * 5) = 1 val, 1 test, per class and domain
    assert [len(parts[s].domains["dslr"]) for s in ("train", "val", "test")] == [9, 3, 3]
    assert len(train) == 27
    for domain in ("amazon", "dslr", "webcam"):
        files = [set(map(str, parts[s].domains[domain].files)) for s in ("train", "val", "test")]
        assert not (files[0] & files[1]) and not (files[0] & files[2]) and not (files[1] & files[2])
        assert len(set().union(*files)) == 15
    again = create_dataset("office31", split="train", root=str(tmp_path), num_classes=3, size=16)
    assert again.domains["webcam"].files == train.domains["webcam"].files
    other = create_dataset("office31", split="train", root=str(tmp_path), num_classes=3, seed=1)
    assert any(other.domains[d].files != train.domains[d].files for d in train.domains)
    x, y = train.domains["dslr"][4]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and list(y) == ["dslr"]
    assert y["dslr"].dtype == torch.int64 and y["dslr"].shape == ()
    label = int(y["dslr"])
    np.testing.assert_allclose(x[:2, 0, 0].numpy(), [60 / 255, 100 * label / 255], atol=1e-6)
    # the concatenation: index 9 is the first dslr training item
    xc, yc = train[9]
    assert list(yc) == ["dslr"] and torch.equal(xc, train.domains["dslr"][0][0])
    xb, yb = next(iter(DataLoader(train.domains["amazon"], batch_size=4)))
    assert xb.shape == (4, 3, 16, 16) and yb["amazon"].shape == (4,)


def test_office31_errors(tmp_path: Path) -> None:
    _make(tmp_path, ("amazon", "dslr"))
    with pytest.raises(FileNotFoundError, match="(?s)webcam.*amazon/<class>"):
        create_dataset("office31", root=str(tmp_path), num_classes=3)
    _make(tmp_path, ("webcam",))
    with pytest.raises(ValueError, match="3 class folders, expected 31"):
        create_dataset("office31", root=str(tmp_path))
    (tmp_path / "webcam" / "zebra").mkdir()
    with pytest.raises(ValueError, match="zebra"):
        create_dataset("office31", root=str(tmp_path), num_classes=None)
    with pytest.raises(ValueError, match="root=None"):
        create_dataset("office31")
    with pytest.raises(ValueError, match="fractions"):
        create_dataset("office31", root=str(tmp_path), num_classes=None, fractions=(0.5, 0.5, 0.5))


def test_office_home_spellings_and_images_subfolder(tmp_path: Path) -> None:
    _make(tmp_path, ("Art", "Clipart", "Product", "Real World"), per_class=4, sub="images")
    ds = create_dataset("office_home", split="test", root=str(tmp_path), num_classes=3, size=8)
    assert list(ds.domains) == ["Art", "Clipart", "Product", "Real_World"]
    # 4 per class: round(2.4) = 2 train, round(0.8) = 1 val, 1 test
    assert [len(d) for d in ds.domains.values()] == [3, 3, 3, 3]
    x, y = ds.domains["Real_World"][0]
    assert x.shape == (3, 8, 8) and list(y) == ["Real_World"]


def _write_lists(root: Path, lists: Path, domains: tuple[str, ...], sub: str) -> dict[str, dict[str, list]]:
    """LibMTL-style ``{domain}_{split}.txt`` files; labels deliberately not alphabetical (mug 0, back_pack 1,
    bike 2), as in LibMTL's lists."""
    lists.mkdir()
    label_of = {"mug": 0, "back_pack": 1, "bike": 2}
    written: dict[str, dict[str, list]] = {}
    for domain in domains:
        written[domain] = {}
        for split, frames in (("train", (4, 0, 2)), ("val", (1,)), ("test", (3,))):
            lines = [(f"{domain}/{sub}{cls}/frame_{i:04d}.png", label_of[cls])
                     for cls in ("mug", "back_pack", "bike") for i in frames]
            (lists / f"{domain}_{split}.txt").write_text("".join(f"{p} {k}\n" for p, k in lines))
            written[domain][split] = lines
    return written


def test_office31_reads_libmtl_split_lists(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _make(root, ("amazon", "dslr", "webcam"), per_class=5, sub="images")
    written = _write_lists(root, tmp_path / "lists", ("amazon", "dslr", "webcam"), "images/")
    parts = {s: create_dataset("office31", split=s, root=str(root), num_classes=3, size=16,
                               lists=str(tmp_path / "lists")) for s in ("train", "val", "test")}
    assert parts["train"].classes == ["mug", "back_pack", "bike"]  # label k -> class of label k in the lists
    for split, ds in parts.items():
        for domain in ("amazon", "dslr", "webcam"):
            lines = written[domain][split]
            assert [str(p) for p in ds.domains[domain].files] == [str(root / p) for p, _ in lines]
            assert ds.domains[domain].labels.tolist() == [k for _, k in lines]
    assert [len(parts[s].domains["dslr"]) for s in ("train", "val", "test")] == [9, 3, 3]
    # the image decoded for item 0 of dslr/train is mug (class 2 in our colour code), labelled 0
    x, y = parts["train"].domains["dslr"][0]
    assert int(y["dslr"]) == 0
    np.testing.assert_allclose(x[:3, 0, 0].numpy(), [60 / 255, 200 / 255, 40 / 255], atol=1e-6)
    # ImageNet standardisation, as LibMTL's transform
    norm = create_dataset("office31", split="train", root=str(root), num_classes=3, size=16,
                          lists=str(tmp_path / "lists"), normalize="imagenet")
    xn, _ = norm.domains["dslr"][0]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(xn[:, 0, 0].numpy(), (x[:, 0, 0].numpy() - mean) / std, rtol=1e-5)


def test_office_split_list_errors_name_the_file(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _make(root, ("amazon", "dslr", "webcam"), per_class=5, sub="images")
    _write_lists(root, tmp_path / "lists", ("amazon", "dslr", "webcam"), "images/")
    lists = tmp_path / "lists"
    kw = {"root": str(root), "num_classes": 3, "lists": str(lists)}
    with pytest.raises(ValueError, match="normalize"):
        create_dataset("office31", normalize="zscore", **kw)
    (lists / "webcam_val.txt").unlink()
    with pytest.raises(FileNotFoundError, match="webcam_val.txt"):
        create_dataset("office31", split="val", **kw)
    (lists / "dslr_test.txt").write_text("dslr/images/mug/frame_0003.png zero\n")
    with pytest.raises(ValueError, match="dslr_test.txt.*line 1"):
        create_dataset("office31", split="test", **kw)
    (lists / "dslr_test.txt").write_text("dslr/images/mug/frame_0009.png 0\n")
    with pytest.raises(FileNotFoundError, match="dslr_test.txt.*line 1.*frame_0009"):
        create_dataset("office31", split="test", **kw)
    (lists / "dslr_test.txt").write_text("dslr/images/bike/frame_0003.png 0\n")  # label 0 is mug elsewhere
    with pytest.raises(ValueError, match="label 0"):
        create_dataset("office31", split="test", **kw)
    with pytest.raises(ValueError, match="expected 31 classes"):
        create_dataset("office31", split="train", root=str(root), lists=str(lists))
