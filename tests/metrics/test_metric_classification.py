"""Classification, binary and multi-label metrics: hand examples, scikit-learn, streaming, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, hamming_loss

from multitask.metrics import BinaryMetrics, ClassificationMetrics, MultilabelMetrics


def _onehot_logits(labels: list[int], num_classes: int) -> torch.Tensor:
    logits = torch.full((len(labels), num_classes), -1.0)
    logits[torch.arange(len(labels)), torch.tensor(labels)] = 2.0
    return logits


def test_classification_hand_example() -> None:
    # targets 0 1 2 2 (ignored); predictions 0 2 2 1 0
    m = ClassificationMetrics(3, ignore_index=-1, task="digit")
    m.update(_onehot_logits([0, 2, 2, 1, 0], 3), torch.tensor([0, 1, 2, 2, -1]))
    out = m.compute()
    assert list(out) == list(m.higher_is_better) == ["accuracy", "f1_macro"]
    assert out["accuracy"] == pytest.approx(0.5)  # 2 of the 4 non-ignored samples
    # F1: class 0 -> 1, class 1 -> 0 (tp 0), class 2 -> 2*1/(2+1+1) = 0.5; mean 0.5
    assert out["f1_macro"] == pytest.approx(0.5)
    assert m.confusion_matrix.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert m.main == "accuracy"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_matches_sklearn_and_streams(seed: int) -> None:
    torch.manual_seed(seed)
    c = 5
    logits = torch.randn(64, c)
    target = torch.randint(-1, c - 1, (64,))  # class 4 never occurs in targets; -1 ignored
    streamed = ClassificationMetrics(c, task="t")
    for lo in range(0, 64, 10):
        streamed.update(logits[lo : lo + 10], target[lo : lo + 10])
    single = ClassificationMetrics(c, task="t")
    single.update(logits, target)
    keep = target != -1
    y, p = target[keep].numpy(), logits.argmax(1)[keep].numpy()
    for out in (streamed.compute(), single.compute()):
        assert out["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)
        assert out["f1_macro"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0), abs=1e-12)
    np.testing.assert_array_equal(streamed.confusion_matrix.numpy(), confusion_matrix(y, p, labels=range(c)))


def test_classification_integer_predictions_and_merge_and_reset() -> None:
    a, b, whole = (ClassificationMetrics(3, task="t") for _ in range(3))
    preds, target = torch.tensor([0, 1, 2, 2, 1, 0]), torch.tensor([0, 1, 1, 2, 1, 2])
    a.update(preds[:3], target[:3])
    b.update(preds[3:], target[3:])
    whole.update(preds, target)
    a.merge(b)
    assert a.compute() == whole.compute()
    assert whole.compute()["accuracy"] == pytest.approx(4 / 6)
    whole.reset()
    with pytest.raises(ValueError, match="'t'"):
        whole.compute()


def test_classification_errors_name_the_task() -> None:
    m = ClassificationMetrics(3, task="digit")
    with pytest.raises(ValueError, match="'digit'.*target class 3"):
        m.update(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="'digit'.*batch size"):
        m.update(torch.zeros(2, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="'digit'.*logits"):
        m.update(torch.zeros(2, 4), torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="'digit'"):
        m.update(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="'digit'"):
        m.update([0, 1], torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="merge"):
        m.merge(BinaryMetrics(task="digit"))
    with pytest.raises(ValueError, match="different settings"):
        m.merge(ClassificationMetrics(4, task="digit"))


def test_binary_hand_example_and_shapes() -> None:
    # logits > 0 predict positive: predictions 1 1 0 0 1, targets 1 0 0 1 1 -> tp 2, fp 1, fn 1, tn 1
    logits = torch.tensor([2.0, 0.5, -0.1, -3.0, 0.01])
    target = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])
    m = BinaryMetrics(task="smile")
    m.update(logits[:2, None], target[:2, None])  # [B, 1] shapes
    m.update(logits[2:], target[2:])  # [B] shapes
    out = m.compute()
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert out == pytest.approx(
        {
            "accuracy": accuracy_score(target.numpy(), (logits > 0).numpy()),
            "f1": f1_score(target.numpy(), (logits > 0).numpy()),
        }
    )


def test_binary_rejects_non_binary_targets_and_handles_no_positives() -> None:
    m = BinaryMetrics(task="smile")
    with pytest.raises(ValueError, match="'smile'.*0 or 1"):
        m.update(torch.zeros(3), torch.tensor([0.0, 0.5, 1.0]))
    m.update(torch.full((4,), -1.0), torch.zeros(4))  # nothing positive anywhere: F1 undefined -> 0
    assert m.compute() == {"accuracy": 1.0, "f1": 0.0}


@pytest.mark.parametrize("seed", [0, 3])
def test_multilabel_matches_sklearn_and_streams(seed: int) -> None:
    torch.manual_seed(seed)
    n, k = 40, 6
    logits = torch.randn(n, k)
    target = (torch.rand(n, k) < 0.3).float()
    target[:, 5] = 0  # label 5 never present ...
    logits[:, 5] = -1.0  # ... nor predicted: it has no F1 and is left out of the macro mean
    m = MultilabelMetrics(k, task="attrs")
    for lo in range(0, n, 7):
        m.update(logits[lo : lo + 7], target[lo : lo + 7])
    out = m.compute()
    y, p = target.numpy().astype(int), (logits > 0).numpy().astype(int)
    assert list(out) == ["accuracy", "subset_accuracy", "f1_macro"]
    assert out["accuracy"] == pytest.approx(1 - hamming_loss(y, p), abs=1e-12)
    assert out["subset_accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)
    assert out["f1_macro"] == pytest.approx(f1_score(y, p, average="macro", labels=range(5)), abs=1e-12)


def test_multilabel_hand_example() -> None:
    # 2 samples x 2 labels; predictions [[1, 0], [1, 1]], targets [[1, 0], [0, 1]]
    m = MultilabelMetrics(2, task="attrs")
    m.update(torch.tensor([[1.0, -1.0], [1.0, 1.0]]), torch.tensor([[1, 0], [0, 1]]))
    out = m.compute()
    assert out["accuracy"] == pytest.approx(3 / 4)
    assert out["subset_accuracy"] == pytest.approx(1 / 2)
    # label 0: tp 1 fp 1 -> F1 2/3; label 1: tp 1 -> F1 1; mean 5/6
    assert out["f1_macro"] == pytest.approx(5 / 6)
    assert not math.isnan(out["f1_macro"])
    with pytest.raises(ValueError, match="'attrs'.*\\[B, 2\\]"):
        m.update(torch.zeros(2, 3), torch.zeros(2, 3))
