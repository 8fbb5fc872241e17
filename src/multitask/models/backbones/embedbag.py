"""A bag-of-embeddings text encoder (token ids -> mean embedding -> MLP), for the text datasets."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from multitask.models.backbones._base import Backbone, register_backbone
from multitask.models.backbones._layers import LinearReLU


class _MeanEmbedding(nn.Module):
    def __init__(self, vocab_size: int, dim: int, padding_idx: int) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab_size, dim, mode="sum", padding_idx=padding_idx)
        self.padding_idx = padding_idx

    def forward(self, ids: Tensor, ctx: dict[str, Any]) -> tuple[Tensor, Tensor]:
        count = (ids != self.padding_idx).sum(1, keepdim=True).clamp(min=1).to(self.bag.weight.dtype)
        out = self.bag(ids) / count  # mean over the non-padding tokens; an all-padding row gives 0
        return out, out


@register_backbone("embedbag")
class EmbeddingBagEncoder(Backbone):
    """Text encoder: the mean of the token embeddings of a document (padding excluded), then
    ``linear -> relu -> [dropout]`` layers — the fastText-style bag of embeddings (Joulin, Grave,
    Bojanowski & Mikolov, "Bag of Tricks for Efficient Text Classification", EACL 2017) as a shared trunk.

    Input: int64 token ids ``[B, L]`` with 0 = padding (what ``newsgroups20`` and ``reuters`` return);
    ``in_channels`` is ``L`` (the trainer passes the item's first dimension) and is only checked.

    Args:
        in_channels: sequence length ``L`` of the inputs.
        vocab_size: number of token ids (the dataset's ``vocab_size``; default 20000, the datasets'
            default ``max_vocab``).
        dim: embedding width (default 64).
        hidden: widths of the layers after the embedding (default (64,); empty = the embedding itself).
        dropout: dropout after each hidden layer.
        padding_idx: the padding id (default 0).
    """

    is_dense = False
    output_stride = 1

    def __init__(self, in_channels: int = 256, vocab_size: int = 20000, dim: int = 64,
                 hidden: tuple[int, ...] | list[int] = (64,), dropout: float = 0.0,
                 padding_idx: int = 0) -> None:
        super().__init__()
        for label, v in (("vocab_size", vocab_size), ("dim", dim), ("in_channels", in_channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"backbone 'embedbag': {label} must be a positive int, got {v!r}")
        hidden = list(hidden)
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"backbone 'embedbag': hidden must be positive ints, got {hidden}")
        if not 0 <= padding_idx < vocab_size:
            raise ValueError(f"backbone 'embedbag': padding_idx must be in 0..{vocab_size - 1}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"backbone 'embedbag': dropout must be in [0, 1), got {dropout}")
        self.seq_len, self.vocab_size = in_channels, vocab_size
        widths = [dim, *hidden]
        self.blocks = nn.ModuleList([_MeanEmbedding(vocab_size, dim, padding_idx)]
                                    + [LinearReLU(a, b, dropout) for a, b in zip(widths[:-1], widths[1:])])
        self.out_channels = widths[-1]
        self.block_channels = list(widths)
        self.block_mid_channels = list(widths)

    def check_input(self, x: Tensor) -> None:
        if x.dim() != 2 or x.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"backbone 'embedbag' expects int token ids [B, L], got {x.dtype} "
                             f"{list(x.shape)}")
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.vocab_size):
            raise ValueError(f"backbone 'embedbag': token ids must be in 0..{self.vocab_size - 1}, got "
                             f"{int(x.min())}..{int(x.max())} (set vocab_size to the dataset's vocab_size)")
