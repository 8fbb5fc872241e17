"""Office-31 and Office-Home: multi-input multi-task classification, one task per image domain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_split, load_image, require_path, require_pil, require_root
from multitask.data._domains import DomainsView
from multitask.data.registry import register_dataset

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_SPLITS = ("train", "val", "test")
#: ImageNet channel statistics (torchvision's, used by LibMTL's Office transforms)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layout(domains: tuple[str, ...], num_classes: int | None) -> str:
    n = "C" if num_classes is None else str(num_classes)
    lines = ["root/"] + [f"  {d}/<class>/<image>.jpg      ({n} class folders, the same in every domain)"
                         for d in domains]
    return "\n".join(lines + ["  (root/<domain>/images/<class>/... as in the original Office-31 archive "
                              "is accepted too)"])


def _domain_dir(base: Path, domain: str, layout: str, dataset: str) -> Path:
    for name in dict.fromkeys((domain, domain.replace("_", " "))):
        d = base / name
        if d.is_dir():
            return d / "images" if (d / "images").is_dir() else d
    return require_path(base / domain, dataset, layout)


class OfficeDomain(Dataset):
    """One domain's images of one split: items ``(image, {domain: class index int64 scalar})``."""

    def __init__(self, domain: str, files: list[Path], labels: list[int], classes: list[str],
                 size: int, normalize: str | None = None) -> None:
        self.domain, self.files, self.classes, self.size = domain, files, classes, size
        self.normalize = normalize
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.tasks = [Task(domain, "classification", len(classes))]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        image = torch.from_numpy(load_image(self.files[i], (self.size, self.size)))
        if self.normalize == "imagenet":
            mean = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1)
            image = (image - mean) / torch.tensor(IMAGENET_STD).reshape(3, 1, 1)
        return image, {self.domain: self.labels[i]}


class Office(DomainsView):
    """Multi-input multi-task classification: each image domain is a task with its own inputs.

    Office-31: Saenko, Kulis, Fritz & Darrell, "Adapting Visual Category Models to New Domains", ECCV
    2010 (domains amazon, dslr, webcam; 31 classes). Office-Home: Venkateswara, Eusebio, Chakraborty &
    Panchanathan, "Deep Hashing Network for Unsupervised Domain Adaptation", CVPR 2017 (domains Art,
    Clipart, Product, Real_World; 65 classes). Used as multi-task benchmarks by LibMTL (Lin & Zhang, JMLR
    2023) and many balancing papers, with a 60 / 20 / 20 train / val / test split of every domain.

    Splits, two ways:

    * ``lists=`` a folder of LibMTL's split files (``examples/office/data_txt/office-31`` or
      ``.../office-home`` in the LibMTL repository): ``{domain}_{split}.txt``, one ``<path> <label>``
      line per image, ``<path>`` relative to ``root`` (e.g. ``dslr/images/back_pack/frame_0008.jpg 0``).
      Items, order and labels are the files' (LibMTL's labels are *not* alphabetical: ``classes[k]`` is
      the folder name of label ``k`` in the lists). This is the split LibMTL's published numbers use,
      so use it (with ``normalize="imagenet"``, LibMTL's transform) to compare with them.
    * otherwise our own split: each domain's images of each class are shuffled by
      ``np.random.default_rng([seed, d])`` (``d`` the domain's position) and cut by ``fractions``
      (default 0.6 / 0.2 / 0.2), so the split is stratified, deterministic and the three parts are
      disjoint; labels are the sorted class folders. It does not reproduce LibMTL's split (other
      images, other per-domain counts).

    Iteration (multi-input setting, ``multi_input = True``): ``self.domains`` maps each domain (= task)
    name to an :class:`OfficeDomain` dataset yielding ``(image, {domain: label})``. A trainer builds one
    DataLoader per domain and, at each step, draws one batch from every domain (cycling the shorter
    ones), computes each task's loss on its own batch through the shared encoder and its head, and
    balances the per-task losses as usual. ``len(self)``/``self[i]`` index the concatenation of the
    domains (for counting or evaluation per item); a default-collated batch across domains is not
    meaningful because each item has a single task.

    Items: ``image`` float32 ``[3, size, size]`` in [0, 1] (bilinear resize, default 224), or
    standardised per channel with ImageNet's mean/std when ``normalize="imagenet"``; label int64 scalar.
    Images are decoded lazily with Pillow (the ``images`` extra).

    Args:
        split: "train", "val" or "test".
        root: folder with one sub-folder per domain (required; nothing is downloaded).
        size: output image side (default 224).
        seed: seed of the per-domain split.
        fractions: train / val / test shares (default (0.6, 0.2, 0.2)).
        num_classes: expected number of class folders ("default": 31 for Office-31, 65 for Office-Home);
            None accepts any count (e.g. for a subset of the classes).
        lists: folder with LibMTL's ``{domain}_{train,val,test}.txt`` files (``seed``/``fractions`` are
            then unused), or None for our seeded split.
        normalize: None (pixels in [0, 1]) or "imagenet" (``(x - mean) / std`` per channel, as LibMTL).
    """

    multi_input = True
    name = "office"
    DOMAINS: tuple[str, ...] = ()
    NUM_CLASSES: int | None = None

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None, size: int = 224,
                 seed: int = 0, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                 num_classes: int | None | Literal["default"] = "default",
                 lists: str | os.PathLike[str] | None = None, normalize: str | None = None) -> None:
        check_split(self.name, split, _SPLITS)
        if normalize not in (None, "imagenet"):
            raise ValueError(f"{self.name}: normalize must be None or 'imagenet', got {normalize!r}")
        expected = self.NUM_CLASSES if num_classes == "default" else num_classes
        layout = _layout(self.DOMAINS, expected)
        base = require_root(root, self.name, layout)
        require_pil()
        self.normalize = normalize
        self.split, self.size, self.classes = split, int(size), None
        self.domains: dict[str, OfficeDomain] = {}
        if lists is not None:
            self._from_lists(base, Path(lists), split, expected)
            return
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
            raise ValueError(f"{self.name}: fractions must be three non-negative shares summing to 1, "
                             f"got {fractions!r}")
        for d, domain in enumerate(self.DOMAINS):
            folder = _domain_dir(base, domain, layout, self.name)
            classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
            if expected is not None and len(classes) != expected:
                raise ValueError(f"{self.name}: {str(folder)!r} has {len(classes)} class folders, expected "
                                 f"{expected}. Expected layout:\n{layout}")
            if self.classes is None:
                self.classes = classes
            elif classes != self.classes:
                raise ValueError(f"{self.name}: {str(folder)!r} has classes {classes}, but "
                                 f"{self.DOMAINS[0]!r} has {self.classes}")
            files, labels = self._split_domain(folder, classes, [seed, d], fractions, split)
            self.domains[domain] = OfficeDomain(domain, files, labels, classes, self.size, normalize)
        self._finish()

    def _finish(self) -> None:
        self.tasks = [Task(domain, "classification", len(self.classes or [])) for domain in self.DOMAINS]
        self._index_domains()

    def _from_lists(self, base: Path, lists: Path, split: str, expected: int | None) -> None:
        """Read LibMTL's ``{domain}_{split}.txt`` files (``<path relative to root> <label>`` lines)."""
        names: dict[int, str] = {}  # label -> class folder name, checked across all files
        parsed: dict[str, tuple[list[Path], list[int]]] = {}
        for domain in self.DOMAINS:
            txt = lists / f"{domain}_{split}.txt"
            if not txt.is_file():
                raise FileNotFoundError(f"{self.name}: split list {str(txt)!r} does not exist (lists= must "
                                        f"hold LibMTL's {{domain}}_{{train,val,test}}.txt files)")
            files, labels = [], []
            for n, line in enumerate(txt.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                parts = line.rsplit(maxsplit=1)
                if len(parts) != 2 or not parts[1].lstrip("-").isdigit() or int(parts[1]) < 0:
                    raise ValueError(f"{self.name}: {str(txt)!r} line {n}: expected '<path> <label>', "
                                     f"got {line!r}")
                rel, label = parts[0].lstrip("/"), int(parts[1])
                path = base / rel
                if not path.is_file():
                    raise FileNotFoundError(f"{self.name}: {str(txt)!r} line {n} names {str(path)!r}, "
                                            f"which does not exist under root")
                cls = Path(rel).parent.name
                if names.setdefault(label, cls) != cls:
                    raise ValueError(f"{self.name}: {str(txt)!r} line {n}: label {label} is class "
                                     f"{cls!r} here but {names[label]!r} elsewhere")
                files.append(path)
                labels.append(label)
            if not files:
                raise ValueError(f"{self.name}: split list {str(txt)!r} is empty")
            parsed[domain] = (files, labels)
        count = max(names) + 1
        if expected is not None and count != expected:
            raise ValueError(f"{self.name}: the split lists in {str(lists)!r} use labels 0..{count - 1}, "
                             f"expected {expected} classes")
        self.classes = [names.get(k, f"<label {k}>") for k in range(count)]
        for domain, (files, labels) in parsed.items():
            self.domains[domain] = OfficeDomain(
                domain, files, labels, self.classes, self.size, self.normalize
            )
        self._finish()

    def _split_domain(self, folder: Path, classes: list[str], seed: list[int],
                      fractions: tuple[float, float, float], split: str) -> tuple[list[Path], list[int]]:
        rng = np.random.default_rng(seed)
        part = _SPLITS.index(split)
        files, labels = [], []
        for label, cls in enumerate(classes):
            images = sorted(p for p in (folder / cls).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise ValueError(f"{self.name}: class folder {str(folder / cls)!r} holds no images "
                                 f"({', '.join(IMAGE_SUFFIXES)})")
            order = rng.permutation(len(images))
            n_tr = int(round(fractions[0] * len(images)))
            n_va = int(round(fractions[1] * len(images)))
            cuts = (0, n_tr, n_tr + n_va, len(images))
            chosen = order[cuts[part] : cuts[part + 1]]
            files += [images[k] for k in sorted(chosen)]
            labels += [label] * len(chosen)
        return files, labels



@register_dataset("office31")
class Office31(Office):
    """Office-31 (Saenko et al., ECCV 2010): tasks amazon, dslr, webcam; 31 classes. See :class:`Office`."""

    name = "office31"
    DOMAINS = ("amazon", "dslr", "webcam")
    NUM_CLASSES = 31


@register_dataset("office_home")
class OfficeHome(Office):
    """Office-Home (Venkateswara et al., CVPR 2017): tasks Art, Clipart, Product, Real_World; 65 classes.

    The ``Real_World`` folder may also be spelled ``Real World``. See :class:`Office`.
    """

    name = "office_home"
    DOMAINS = ("Art", "Clipart", "Product", "Real_World")
    NUM_CLASSES = 65
