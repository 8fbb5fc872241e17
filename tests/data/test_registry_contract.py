from __future__ import annotations

import inspect

import pytest

import multitask as mt
from multitask.data import DATASETS

NAMES = ["celeba", "cityscapes", "mnist_domains", "multimnist", "nyuv2", "office31", "office_home",
         "planted_groups", "sarcos", "school", "shapes"]
NAMES = sorted(NAMES + ["climate", "computer_survey", "domainnet", "imageclef_da", "newsgroups20", "nyud",
                        "office_caltech", "pascal_context", "reuters", "synthia", "taskonomy"])


def test_all_datasets_registered_with_split_and_root() -> None:
    assert mt.list_datasets() == NAMES
    for name in NAMES:
        params = inspect.signature(DATASETS.get(name)).parameters
        assert "split" in params and "root" in params, name
        assert DATASETS.get(name).__doc__, name


@pytest.mark.parametrize("name", NAMES)
def test_unknown_split_names_split_and_allowed(name: str, tmp_path) -> None:
    with pytest.raises(ValueError, match=rf"{name}: unknown split 'training'.*train, val, test"):
        mt.create_dataset(name, split="training", root=str(tmp_path))
