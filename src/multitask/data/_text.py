"""Shared text pipeline of the text datasets: tokenizer, vocabulary of the train split, fixed-length ids.

Token ids: 0 = padding, 1 = unknown, 2.. = the vocabulary (most frequent first, ties alphabetical).
A document becomes its first ``max_len`` token ids, padded with 0 (the ``embedbag`` backbone averages
the non-padding embeddings).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

PAD, UNK = 0, 1
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(text: str) -> list[str]:
    """Lower-cased runs of letters and digits (an apostrophe suffix kept: ``don't``)."""
    return _TOKEN.findall(text.lower())


def build_vocab(docs: Sequence[list[str]], max_vocab: int, min_count: int) -> dict[str, int]:
    """token -> id (from 2) for the ``max_vocab - 2`` most frequent tokens seen ``>= min_count`` times."""
    if max_vocab < 3:
        raise ValueError(f"max_vocab must be >= 3 (padding, unknown and one token), got {max_vocab}")
    counts = Counter(t for doc in docs for t in doc)
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return {t: i + 2 for i, t in enumerate(ranked[: max_vocab - 2])}


def encode(docs: Sequence[list[str]], vocab: dict[str, int], max_len: int) -> torch.Tensor:
    """int64 ``[N, max_len]`` ids (truncated, padded with 0)."""
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    out = np.zeros((len(docs), max_len), dtype=np.int64)
    for i, doc in enumerate(docs):
        ids = [vocab.get(t, UNK) for t in doc[:max_len]]
        out[i, : len(ids)] = ids
    return torch.from_numpy(out)


def holdout(n: int, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of ``round(fraction * n)`` rows drawn by ``np.random.default_rng(seed)``."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction!r}")
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[: int(round(fraction * n))]] = True
    return mask
