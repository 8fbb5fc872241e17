"""20 Newsgroups (the "bydate" release) as two-task text classification: newsgroup and top-level topic."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_split, require_path, require_root
from multitask.data._text import build_vocab, encode, holdout, tokenize
from multitask.data.registry import register_dataset

LAYOUT = """root/                               (the extracted 20news-bydate.tar.gz)
  20news-bydate-train/<newsgroup>/<message id>   one message per file (headers + body, latin-1)
  20news-bydate-test/<newsgroup>/<message id>    the same 20 newsgroup folders, e.g. comp.graphics/"""


def _read_split(base: Path, folder: str) -> tuple[list[list[str]], list[str]]:
    d = require_path(base / folder, "newsgroups20", LAYOUT)
    docs, groups = [], []
    for group in sorted(p.name for p in d.iterdir() if p.is_dir()):
        for f in sorted((d / group).iterdir(), key=lambda p: p.name):
            if f.is_file():
                docs.append(tokenize(f.read_bytes().decode("latin-1")))
                groups.append(group)
    if not docs:
        raise ValueError(f"newsgroups20: {str(d)!r} holds no messages. Expected layout:\n{LAYOUT}")
    return docs, groups


@register_dataset("newsgroups20")
class Newsgroups20(Dataset):
    """20 Newsgroups (Lang, "NewsWeeder: Learning to Filter Netnews", ICML 1995), the "bydate" release
    (11,314 train / 7,532 test messages, split by date; duplicates and some headers, e.g.
    ``Newsgroups:`` and ``Path:``, removed by its authors) as multi-task text classification with two
    tasks on every message:

    * ``newsgroup``: the 20 newsgroups (sorted folder names);
    * ``topic``: the top-level hierarchy, the name before the first dot (``alt``, ``comp``, ``misc``,
      ``rec``, ``sci``, ``soc``, ``talk``: 7 classes) — our multi-task formulation.

    Text: the whole file (headers included, as scikit-learn's default), lower-cased word tokens
    (:mod:`multitask.data._text`), the vocabulary of the *train* messages (minus the validation hold-out),
    each message cut/padded to ``max_len`` ids. ``"val"`` is ``val_fraction`` of the train messages drawn
    by ``seed``; ``"train"`` the rest; ``"test"`` the bydate test folder.

    Items: ``(ids int64 [max_len], {"newsgroup": int64, "topic": int64})``; ``self.vocab_size`` is the
    ``vocab_size`` of the ``embedbag`` backbone (at most ``max_vocab``).

    Args:
        split: "train", "val" or "test".
        root: the folder holding ``20news-bydate-train/`` and ``20news-bydate-test/`` (nothing is
            downloaded).
        max_len: ids per message (default 256).
        max_vocab: vocabulary size including padding and unknown (default 20000).
        min_count: a token enters the vocabulary when seen this often in the train messages (default 2).
        val_fraction: share of the train messages held out as ``"val"`` (default 0.1).
        seed: seed of the hold-out.
    """

    name = "newsgroups20"

    def __init__(self, split: str = "train", root: str | os.PathLike[str] | None = None,
                 max_len: int = 256, max_vocab: int = 20000, min_count: int = 2, val_fraction: float = 0.1,
                 seed: int = 0) -> None:
        check_split(self.name, split, ("train", "val", "test"))
        base = require_root(root, self.name, LAYOUT)
        docs, groups = _read_split(base, "20news-bydate-train")
        is_val = holdout(len(docs), float(val_fraction), seed)
        if split == "val" and not is_val.any():
            raise ValueError(f"{self.name}: split 'val' needs val_fraction > 0")
        self.groups = sorted(set(groups))
        self.topics = sorted({g.split(".")[0] for g in self.groups})
        vocab = build_vocab([d for d, v in zip(docs, is_val) if not v], max_vocab, min_count)
        if split == "test":
            docs, groups = _read_split(base, "20news-bydate-test")
            unknown = sorted(set(groups) - set(self.groups))
            if unknown:
                raise ValueError(f"{self.name}: test newsgroups {unknown} are not train newsgroups")
        else:
            keep = is_val if split == "val" else ~is_val
            docs = [d for d, k in zip(docs, keep) if k]
            groups = [g for g, k in zip(groups, keep) if k]
        self.split, self.vocab, self.vocab_size = split, vocab, len(vocab) + 2
        self.ids = encode(docs, vocab, max_len)
        self.newsgroup = torch.tensor([self.groups.index(g) for g in groups], dtype=torch.int64)
        self.topic = torch.tensor([self.topics.index(g.split(".")[0]) for g in groups], dtype=torch.int64)
        self.tasks = [Task("newsgroup", "classification", len(self.groups)),
                      Task("topic", "classification", len(self.topics))]

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        return self.ids[i], {"newsgroup": self.newsgroup[i], "topic": self.topic[i]}
