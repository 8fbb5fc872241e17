"""DomainNet and ImageCLEF-DA from their list files, on fixtures written in the released formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from multitask.data import create_dataset
from multitask.data.domain_lists import DomainNet, ImageCLEFDA


def _image(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 6), colour).save(path)


def write_domainnet(root: Path, domains=("clipart", "sketch"), classes=("aircraft_carrier", "zebra")):
    for d, domain in enumerate(domains):
        for part, n in (("train", 10), ("test", 4)):
            lines = []
            for c, cls in enumerate(classes):
                for i in range(n):
                    rel = f"{domain}/{cls}/{domain}_{c:03d}_{part}{i:06d}.jpg"
                    _image(root / rel, (80 * d, 100 * c, 5 * i))
                    lines.append(f"{rel} {c}")
            (root / f"{domain}_{part}.txt").write_text("\n".join(lines) + "\n")


def test_domainnet_lists_splits_and_items(tmp_path: Path) -> None:
    write_domainnet(tmp_path)
    kw = {"root": str(tmp_path), "domains": ["clipart", "sketch"], "num_classes": None, "size": 6}
    tr, va, te = (create_dataset("domainnet", split=s, **kw) for s in ("train", "val", "test"))
    assert tr.multi_input and list(tr.domains) == ["clipart", "sketch"]
    assert [(t.name, t.num_outputs) for t in tr.tasks] == [("clipart", 2), ("sketch", 2)]
    assert [len(p.domains["sketch"]) for p in (tr, va, te)] == [18, 2, 8]
    assert not set(tr.domains["clipart"].files) & set(va.domains["clipart"].files)
    assert set(tr.domains["clipart"].files) | set(va.domains["clipart"].files) == {
        p for p in (tmp_path / "clipart").rglob("*.jpg") if "_train" in p.name}
    x, y = te.domains["sketch"][5]
    assert x.shape == (3, 6, 6) and int(y["sketch"]) == 1 and abs(float(x[1, 0, 0]) - 100 / 255) < 0.03
    whole = DomainNet("train", str(tmp_path), domains=["clipart"], num_classes=None, val_fraction=0.0)
    assert len(whole) == 20
    with pytest.raises(ValueError, match="labels go up to 1, but there are 1 classes"):
        DomainNet("test", str(tmp_path), domains=["clipart"], num_classes=1)


def test_domainnet_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"(?s)clipart_train\.txt' does not exist.*<label 0\.\.344>"):
        DomainNet("train", str(tmp_path))
    write_domainnet(tmp_path, domains=("clipart",))
    (tmp_path / "clipart" / "zebra" / "clipart_001_test000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"clipart_test\.txt' line 8 names .*test000003\.jpg"):
        DomainNet("test", str(tmp_path), domains=["clipart"], num_classes=None)
    with pytest.raises(ValueError, match="domains must be distinct names"):
        DomainNet("test", str(tmp_path), domains=["cartoon"])


def test_imageclef_lists_and_seeded_cut(tmp_path: Path) -> None:
    for d, domain in enumerate("cip"):
        lines = []
        for k in range(24):  # 2 images per class, 12 classes
            rel = f"{domain}/{k // 2}_{k}.jpg"
            _image(tmp_path / rel, (50 * d, 20 * (k // 2), 0))
            lines.append(f"{rel} {k // 2}")
        (tmp_path / "list").mkdir(exist_ok=True)
        (tmp_path / "list" / f"{domain}List.txt").write_text("\n".join(lines) + "\n")
    parts = {s: create_dataset("imageclef_da", split=s, root=str(tmp_path), size=6)
             for s in ("train", "val", "test")}
    assert [len(parts[s].domains["i"]) for s in ("train", "val", "test")] == [14, 5, 5]  # round(0.6*24)=14
    files = [set(parts[s].domains["p"].files) for s in ("train", "val", "test")]
    assert sum(map(len, files)) == 24 and len(set().union(*files)) == 24
    assert [(t.name, t.num_outputs) for t in parts["train"].tasks] == [("c", 12), ("i", 12), ("p", 12)]
    again = ImageCLEFDA("train", str(tmp_path), size=6)
    assert again.domains["c"].files == parts["train"].domains["c"].files
    assert ImageCLEFDA("train", str(tmp_path), seed=1).domains["c"].files != again.domains["c"].files
    x, y = parts["test"][0]
    assert x.dtype == torch.float32 and list(y) == ["c"]
    with pytest.raises(FileNotFoundError, match=r"(?s)bList\.txt' does not exist.*list/cList\.txt"):
        ImageCLEFDA("train", str(tmp_path), domains=["b"])
