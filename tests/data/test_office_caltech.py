from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from multitask.data import create_dataset

CLASSES = ("back_pack", "bike", "calculator", "headphones", "keyboard", "laptop_computer", "monitor", "mouse",
           "mug", "projector")
DOMAINS = ("amazon", "caltech", "dslr", "webcam")


def _make(root: Path, per_class: int = 5) -> None:
    for d, domain in enumerate(DOMAINS):
        for c, cls in enumerate(CLASSES):
            (root / domain / cls).mkdir(parents=True)
            for i in range(per_class):
                image = Image.new("RGB", (8, 8), (60 * d, 20 * c, 10 * i))
                image.save(root / domain / cls / f"{i:03d}.jpg")


def test_office_caltech_domains_classes_and_splits(tmp_path: Path) -> None:
    _make(tmp_path)
    parts = {s: create_dataset("office_caltech", split=s, root=str(tmp_path), size=8)
             for s in ("train", "val", "test")}
    train = parts["train"]
    assert list(train.domains) == list(DOMAINS) and train.classes == list(CLASSES)
    assert [(t.name, t.num_outputs) for t in train.tasks] == [(d, 10) for d in DOMAINS]
    assert [len(parts[s].domains["caltech"]) for s in ("train", "val", "test")] == [30, 10, 10]
    x, y = train.domains["caltech"][0]
    assert x.shape == (3, 8, 8) and list(y) == ["caltech"]


def test_office_caltech_missing_domain_and_class_count(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"(?s)amazon' does not exist.*caltech/<class>"):
        create_dataset("office_caltech", root=str(tmp_path))
    _make(tmp_path)
    (tmp_path / "webcam" / "extra").mkdir()
    with pytest.raises(ValueError, match="has 11 class folders, expected 10"):
        create_dataset("office_caltech", root=str(tmp_path))
