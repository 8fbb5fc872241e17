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
