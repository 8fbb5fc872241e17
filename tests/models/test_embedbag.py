"""The bag-of-embeddings text backbone: the mean of the non-padding embeddings, then the MLP layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from multitask.models import create_backbone


def test_mean_over_non_padding_tokens_then_mlp() -> None:
    torch.manual_seed(0)
    b = create_backbone("embedbag", in_channels=5, vocab_size=10, dim=4, hidden=[3])
    ids = torch.tensor([[3, 4, 0, 0, 0], [5, 5, 6, 7, 1], [0, 0, 0, 0, 0]])
    E = b.blocks[0].bag.weight
    want0 = torch.stack([E[[3, 4]].mean(0), E[[5, 5, 6, 7, 1]].mean(0), torch.zeros(4)])
    mid, h = b.run_block(0, ids, {})
    torch.testing.assert_close(h, want0)
    fc = b.blocks[1].fc
    torch.testing.assert_close(b(ids), F.relu(want0 @ fc.weight.T + fc.bias))
    assert b.out_channels == 3 and b.block_channels == [4, 3] and not b.is_dense
    assert torch.equal(E[0], torch.zeros(4))  # the padding row stays 0 (and gets no gradient)


def test_bad_inputs() -> None:
    b = create_backbone("embedbag", in_channels=5, vocab_size=10)
    with pytest.raises(ValueError, match=r"token ids must be in 0..9"):
        b(torch.tensor([[1, 12]]))
    with pytest.raises(ValueError, match="expects int token ids"):
        b(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        create_backbone("embedbag", in_channels=5, vocab_size=0)
