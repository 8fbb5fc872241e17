"""20 Newsgroups (bydate folders) and Reuters-21578 (SGML and cats.txt) on fixtures in the real formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import multitask as mt
from multitask.data._text import tokenize
from multitask.data.newsgroups import Newsgroups20
from multitask.data.reuters import Reuters
from multitask.train.config import Config
from multitask.train.trainer import Trainer

GROUPS = {"comp.graphics": "pixel render shader polygon", "rec.autos": "engine wheel brake gearbox",
          "sci.space": "orbit rocket launch moon", "talk.politics.guns": "law vote senate rifle"}


def write_newsgroups(root, n_train: int = 12, n_test: int = 4) -> None:
    rng = np.random.default_rng(0)
    for folder, n in (("20news-bydate-train", n_train), ("20news-bydate-test", n_test)):
        for g, words in GROUPS.items():
            (root / folder / g).mkdir(parents=True)
            for k in range(n):
                body = " ".join(rng.choice(words.split() + ["the", "a", "of"], 12))
                text = f"From: user{k}@example.edu\nSubject: Re: question {k}\n\n{body}\n\xe9t\xe9\n"
                (root / folder / g / str(51000 + k)).write_bytes(text.encode("latin-1"))


def test_newsgroups_tasks_splits_and_ids(tmp_path) -> None:
    write_newsgroups(tmp_path)
    tr = mt.create_dataset("newsgroups20", split="train", root=str(tmp_path), max_len=20, val_fraction=0.25)
    va = Newsgroups20("val", str(tmp_path), max_len=20, val_fraction=0.25)
    te = Newsgroups20("test", str(tmp_path), max_len=20, val_fraction=0.25)
    assert (len(tr), len(va), len(te)) == (36, 12, 16)
    assert [(t.name, t.kind, t.num_outputs) for t in tr.tasks] == [("newsgroup", "classification", 4),
                                                                   ("topic", "classification", 4)]
    assert tr.topics == ["comp", "rec", "sci", "talk"] and tr.vocab == va.vocab == te.vocab
    x, y = te[0]
    assert x.shape == (20,) and x.dtype == torch.int64 and 0 <= int(x.min()) and int(x.max()) < tr.vocab_size
    assert int(y["newsgroup"]) == 0 and int(y["topic"]) == 0  # comp.graphics, sorted first
    # the first tokens are the message's own, in order
    first = tokenize("From: user0@example.edu\nSubject: Re: question 0")
    assert [tr.vocab.get(t, 1) for t in first] == x[: len(first)].tolist()
    counts = torch.bincount(tr.newsgroup, minlength=4) + torch.bincount(va.newsgroup, minlength=4)
    assert counts.tolist() == [12] * 4


def test_newsgroups_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"(?s)20news-bydate-train' does not exist.*comp\.graphics"):
        Newsgroups20("train", str(tmp_path))
    with pytest.raises(ValueError, match="val_fraction > 0"):
        write_newsgroups(tmp_path, 2, 1)
        Newsgroups20("val", str(tmp_path), val_fraction=0.0)


SGML = """<!DOCTYPE lewis SYSTEM "lewis.dtd">
<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5544" NEWID="{newid}">
<DATE>26-FEB-1987 15:01:01.79</DATE>
<TOPICS>{topics}</TOPICS>
<PLACES><D>usa</D></PLACES>
<TEXT>&#2;
<TITLE>{title}</TITLE>
<DATELINE>    HOUSTON, Feb 26 - </DATELINE><BODY>{body} &lt;ABC&gt; said.
 Reuter
&#3;</BODY></TEXT>
</REUTERS>
"""


def _doc(newid: int, split: str, topics: list[str], words: str, topics_flag: str = "YES") -> str:
    d = SGML.format(newid=newid, topics="".join(f"<D>{t}</D>" for t in topics), title=words.upper(),
                    body=words)
    return d.replace('LEWISSPLIT="TRAIN"', f'LEWISSPLIT="{split}"').replace('TOPICS="YES"',
                                                                            f'TOPICS="{topics_flag}"')


def write_sgml(root) -> None:
    docs, k = [], 1
    for split, n in (("TRAIN", 8), ("TEST", 3)):
        for i in range(n):
            docs.append(_doc(k, split, ["earn"], "profit net shr dividend"))
            docs.append(_doc(k + 1, split, ["crude", "ship"], "oil tanker barrel gulf"))
            docs.append(_doc(k + 2, split, ["grain"] if i % 2 else [], "wheat corn tonnes export"))
            k += 3
    head = _doc(k + 2, "TRAIN", ["acq"], "x").split("<TEXT>")[0]
    unproc = head + '<TEXT TYPE="UNPROC">&#2;\nmerger bid\n</TEXT>\n</REUTERS>\n'
    docs.append(unproc)
    docs.append(_doc(k, "NOT-USED", ["earn"], "ignored"))
    docs.append(_doc(k + 1, "TRAIN", ["earn"], "ignored", topics_flag="NO"))
    half = len(docs) // 2
    (root / "reut2-000.sgm").write_bytes("".join(docs[:half]).encode("latin-1"))
    (root / "reut2-001.sgm").write_bytes(("".join(docs[half:]) + "\xfc").encode("latin-1"))


def test_reuters_sgml_modapte(tmp_path) -> None:
    write_sgml(tmp_path)
    cats = ["earn", "crude", "grain"]
    tr = mt.create_dataset("reuters", split="train", root=str(tmp_path), categories=cats, val_fraction=0.0,
                           max_len=16)
    te = Reuters("test", str(tmp_path), categories=cats, val_fraction=0.0, max_len=16)
    assert (len(tr), len(te)) == (25, 9)  # ModApte: TRAIN/TEST with TOPICS="YES" only
    acq = Reuters("train", str(tmp_path), categories=["acq"], val_fraction=0.0, min_count=1)
    assert "merger" in acq.vocab and acq.labels.sum() == 1
    assert [(t.name, t.kind) for t in tr.tasks] == [(c, "binary") for c in cats]
    assert tr.labels.sum(0).tolist() == [8.0, 8.0, 4.0]
    x, y = tr[1]
    assert float(y["crude"]) == 1.0 and float(y["earn"]) == 0.0 and y["crude"].dtype == torch.float32
    assert "abc" in tr.vocab  # &lt;ABC&gt; unescaped, then tokenized
    top2 = Reuters("train", str(tmp_path), categories=2, val_fraction=0.0)  # acq: 1 document
    assert top2.categories == ["crude", "earn"]  # 8 each: ties alphabetical
    assert len(Reuters("val", str(tmp_path), categories=["earn"], val_fraction=0.2)) == 5
    with pytest.raises(ValueError, match=r"categories \['cocoa'\] never occur"):
        Reuters("train", str(tmp_path), categories=["cocoa"])


def test_reuters_cats_txt(tmp_path) -> None:
    (tmp_path / "training").mkdir()
    (tmp_path / "test").mkdir()
    lines = []
    for k in range(6):
        folder = "training" if k < 4 else "test"
        (tmp_path / folder / str(100 + k)).write_text(f"DOC {k}\n oil and wheat prices {k}")
        lines.append(f"{folder}/{100 + k} " + ("crude wheat" if k % 2 else "wheat"))
    (tmp_path / "cats.txt").write_text("\n".join(lines) + "\n")
    tr = Reuters("train", str(tmp_path), categories=["crude", "wheat"], val_fraction=0.0)
    assert len(tr) == 4 and len(Reuters("test", str(tmp_path), categories=["crude", "wheat"])) == 2
    assert tr.labels.tolist() == [[0, 1], [1, 1], [0, 1], [1, 1]]
    (tmp_path / "test" / "105").unlink()
    with pytest.raises(FileNotFoundError, match=r"test/105"):
        Reuters("train", str(tmp_path), categories=["wheat"])


def test_reuters_missing_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"(?s)neither reut2-\*\.sgm nor cats\.txt.*LEWISSPLIT"):
        Reuters("train", str(tmp_path))


@pytest.mark.parametrize("name", ["newsgroups20", "reuters"])
def test_text_trains_end_to_end_with_embedbag(tmp_path, name: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_newsgroups(data) if name == "newsgroups20" else write_sgml(data)
    kwargs = {"max_len": 16, "max_vocab": 64, "val_fraction": 0.25}
    if name == "reuters":
        kwargs["categories"] = ["earn", "crude", "grain"]
    cfg = Config.from_dict({
        "data": {"name": name, "root": str(data), "batch_size": 8, "eval_batch_size": 8, "kwargs": kwargs},
        "model": {"name": "hps", "backbone": "embedbag",
                  "kwargs": {"backbone_kwargs": {"vocab_size": 64, "dim": 16, "hidden": [16]}}},
        "method": {"name": "ew"},
        "optim": {"lr": 0.05},
        "train": {"epochs": 8, "out_dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
    })
    result = Trainer(cfg).fit()
    # the fixture's classes have disjoint vocabularies: a bag of embeddings separates them
    main = "newsgroup" if name == "newsgroups20" else "earn"
    assert result["test"][main]["accuracy"] >= 0.9
