"""Reuters-21578 (SGML or ``cats.txt`` release) as multi-task text classification: one binary task per
topic category."""

from __future__ import annotations

import html
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_split, require_root
from multitask.data._text import build_vocab, encode, holdout, tokenize
from multitask.data.registry import register_dataset

#: the 10 most frequent ModApte categories ("R10")
R10 = ("earn", "acq", "money-fx", "grain", "crude", "trade", "interest", "ship", "wheat", "corn")

LAYOUT = """root/  either the original SGML release (reuters21578.tar.gz, extracted):
  reut2-000.sgm ... reut2-021.sgm    <REUTERS TOPICS="YES" LEWISSPLIT="TRAIN|TEST" ...> documents
                                     with <TOPICS><D>earn</D>...</TOPICS> and <TITLE>, <BODY> text
or the ApteMod release with a category file (as NLTK's 'reuters' corpus):
  cats.txt                           lines 'training/<id> cat1 cat2 ...' and 'test/<id> ...'
  training/<id>, test/<id>           one document per file"""

_DOC = re.compile(r"<REUTERS([^>]*)>(.*?)</REUTERS>", re.S)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def _tag(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.S)
    return m.group(1) if m else ""


def read_sgml(base: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """ModApte documents of the SGML files: ``{"train"|"test": [(text, topics)]}``.

    ModApte (the release's README): ``LEWISSPLIT="TRAIN"`` (train) or ``"TEST"`` (test) with
    ``TOPICS="YES"``; 9,603 / 3,299 documents in the full release. Text: title and body (for stories
    without them, the whole ``<TEXT>`` with tags dropped), entities unescaped.
    """
    out: dict[str, list[tuple[str, list[str]]]] = {"train": [], "test": []}
    for f in sorted(base.glob("reut2-*.sgm")):
        raw = f.read_bytes().decode("latin-1")
        for attrs, body in _DOC.findall(raw):
            a = dict(_ATTR.findall(attrs))
            split = {"TRAIN": "train", "TEST": "test"}.get(a.get("LEWISSPLIT", ""))
            if split is None or a.get("TOPICS") != "YES":
                continue
            topics = re.findall(r"<D>(.*?)</D>", _tag(body, "TOPICS"))
            text = _tag(body, "TITLE") + "\n" + _tag(body, "BODY")
            if not text.strip():  # <TEXT TYPE="UNPROC"> / "BRIEF" stories: the whole text, tags dropped
                m = re.search(r"<TEXT[^>]*>(.*?)</TEXT>", body, re.S)
                text = re.sub(r"<[^>]+>", " ", m.group(1)) if m else ""
            text = html.unescape(text)
            out[split].append((text, topics))
    return out


def read_cats(base: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """Documents listed in ``cats.txt`` (``training/<id>`` -> train, ``test/<id>`` -> test)."""
    out: dict[str, list[tuple[str, list[str]]]] = {"train": [], "test": []}
    for n, line in enumerate((base / "cats.txt").read_text(encoding="latin-1").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        folder = parts[0].split("/")[0]
        if folder not in ("training", "test") or len(parts) < 2:
            raise ValueError(f"reuters: {str(base / 'cats.txt')!r} line {n}: expected "
                             f"'training/<id> cat ...' or 'test/<id> cat ...', got {line!r}")
        path = base / parts[0]
        if not path.is_file():
            raise FileNotFoundError(f"reuters: cats.txt line {n} names {str(path)!r}, which does not exist. "
                                    f"Expected layout:\n{LAYOUT}")
        out["train" if folder == "training" else "test"].append(
            (path.read_bytes().decode("latin-1"), parts[1:]))
    return out


@register_dataset("reuters")
class Reuters(Dataset):
    """Reuters-21578 (Lewis; Distribution 1.0, 1997) in the ModApte split, as multi-task text
    classification: one ``binary`` task per topic category ("does this story carry that topic?"), by
    default the 10 most frequent ("R10": earn, acq, money-fx, grain, crude, trade, interest, ship, wheat,
    corn).

    Reads either the SGML release (``reut2-*.sgm``; ModApte = ``LEWISSPLIT`` TRAIN/TEST with
    ``TOPICS="YES"``, every such document kept, also those without a chosen category) or the ApteMod
    ``cats.txt`` release (its documents, which all carry at least one of 90 categories). ``"val"`` is
    ``val_fraction`` of the train documents drawn by ``seed``; ``"train"`` the rest. Text and vocabulary as
    :class:`~multitask.data.newsgroups.Newsgroups20` (vocabulary of the train documents).

    Items: ``(ids int64 [max_len], {category: float32 scalar in {0, 1}})``.

    Args:
        split: "train", "val" or "test".
        root: the folder with the ``.sgm`` files or ``cats.txt`` (nothing is downloaded).
        categories: the category names that become tasks (default R10), or an int ``k``: the ``k`` most
            frequent in the train documents (ties alphabetical).

    ``max_len``, ``max_vocab``, ``min_count``, ``val_fraction`` and ``seed`` are as in ``Newsgroups20``.
    """

    name = "reuters"

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None,
                 categories: Sequence[str] | int = R10, max_len: int = 256, max_vocab: int = 20000,
                 min_count: int = 2, val_fraction: float = 0.1, seed: int = 0) -> None:
        check_split(self.name, split, ("train", "val", "test"))
        base = require_root(root, self.name, LAYOUT)
        if (base / "cats.txt").is_file():
            data = read_cats(base)
        elif any(base.glob("reut2-*.sgm")):
            data = read_sgml(base)
        else:
            raise FileNotFoundError(f"{self.name}: {str(base)!r} holds neither reut2-*.sgm nor cats.txt. "
                                    f"Expected layout:\n{LAYOUT}")
        train = data["train"]
        if not train or not data["test"]:
            raise ValueError(f"{self.name}: {str(base)!r} has {len(train)} train and {len(data['test'])} "
                             f"test documents; both must be non-empty")
        is_val = holdout(len(train), float(val_fraction), seed)
        if split == "val" and not is_val.any():
            raise ValueError(f"{self.name}: split 'val' needs val_fraction > 0")
        fit = [d for d, v in zip(train, is_val) if not v]
        if isinstance(categories, int) and not isinstance(categories, bool):
            counts = Counter(c for _, cats in fit for c in cats)
            categories = sorted(counts, key=lambda c: (-counts[c], c))[:categories]
        self.categories = list(categories)
        if not self.categories or len(set(self.categories)) != len(self.categories):
            raise ValueError(f"{self.name}: categories must be distinct and non-empty, got {self.categories}")
        seen = {c for _, cats in train for c in cats}
        missing = [c for c in self.categories if c not in seen]
        if missing:
            raise ValueError(f"{self.name}: categories {missing} never occur in the train documents")
        docs_fit = [tokenize(t) for t, _ in fit]
        vocab = build_vocab(docs_fit, max_vocab, min_count)
        if split == "test":
            docs = data["test"]
        else:
            keep = is_val if split == "val" else ~is_val
            docs = [d for d, k in zip(train, keep) if k]
        self.split, self.vocab, self.vocab_size = split, vocab, len(vocab) + 2
        self.ids = encode([tokenize(t) for t, _ in docs], vocab, max_len)
        self.labels = torch.tensor([[float(c in cats) for c in self.categories] for _, cats in docs],
                                   dtype=torch.float32).reshape(len(docs), len(self.categories))
        self.tasks = [Task(c, "binary", 1) for c in self.categories]

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        y = self.labels[i]
        return self.ids[i], {c: y[k] for k, c in enumerate(self.categories)}
