from __future__ import annotations

import numpy as np
import pytest
import scipy.io as sio
import torch
from torch.utils.data import DataLoader

from multitask.data import create_dataset
from multitask.data._common import ASSETS
from multitask.data.tabular import load_sarcos, load_school


@pytest.fixture(scope="module")
def school1() -> dict[str, np.ndarray]:
    return load_school(1)


def test_school_shapes_and_dtypes(school1: dict[str, np.ndarray]) -> None:
    assert school1["X_train"].shape == (11472, 28) and school1["X_test"].shape == (3890, 28)
    assert school1["y_train"].shape == (11472,) and school1["y_test"].shape == (3890,)
    assert school1["task_train"].dtype == np.int64 and school1["X_train"].dtype == np.float64
    assert school1["task_train"].min() == 0 and school1["task_train"].max() == 138
    # the bias column is the last one
    np.testing.assert_array_equal(school1["X_train"][:, -1], 1.0)


def test_school_matches_raw_mat_with_one_based_indexes(school1: dict[str, np.ndarray]) -> None:
    raw = sio.loadmat(str(ASSETS / "school" / "school_b.mat"))
    idx = sio.loadmat(str(ASSETS / "school" / "school_1_indexes.mat"))
    tr = idx["tr"].ravel().astype(int)
    # first training student is the raw column tr[0] - 1 (1-based index in the file)
    np.testing.assert_array_equal(school1["X_train"][0], raw["x"][:, tr[0] - 1])
    assert school1["y_train"][5] == raw["y"][tr[5] - 1, 0]
    # task ids agree with the file's per-split first positions (tr_indexes, 1-based)
    starts = idx["tr_indexes"].ravel().astype(int) - 1
    np.testing.assert_array_equal(np.flatnonzero(np.diff(school1["task_train"])) + 1, starts[1:])
    starts_te = idx["tst_indexes"].ravel().astype(int) - 1
    np.testing.assert_array_equal(np.flatnonzero(np.diff(school1["task_test"])) + 1, starts_te[1:])
    # schools: raw task_indexes start at 1, 201, 292 -> students 0..199 are school 0
    all_tr = np.concatenate([tr, idx["tst"].ravel().astype(int)])
    assert sorted(all_tr.tolist()) == list(range(1, 15363))


def test_school_splits_differ_and_validate() -> None:
    a, b = load_school(1), load_school(2)
    assert not np.array_equal(a["y_train"], b["y_train"])
    for bad in (0, 11, 1.5, True):
        with pytest.raises(ValueError, match="school"):
            load_school(bad)  # type: ignore[arg-type]


def test_school_missing_root_names_path(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="school_b.mat"):
        load_school(1, root=tmp_path)


def test_sarcos_split_is_a_seeded_partition() -> None:
    raw = sio.loadmat(str(ASSETS / "sarcos" / "sarcos_inv_test.mat"))["sarcos_inv_test"]
    d = load_sarcos(0)
    assert d["X_train"].shape == (3000, 21) and d["Y_train"].shape == (3000, 7)
    assert d["X_val"].shape == (449, 21) and d["X_test"].shape == (1000, 21)
    rows = np.concatenate([np.hstack([d[f"X_{s}"], d[f"Y_{s}"]]) for s in ("train", "val", "test")])
    # the three splits together are a permutation of the raw rows
    np.testing.assert_array_equal(rows[np.lexsort(rows.T[::-1])], raw[np.lexsort(raw.T[::-1])])
    perm = np.random.default_rng(0).permutation(4449)
    np.testing.assert_array_equal(d["Y_test"], raw[perm[3449:], 21:])
    again, other = load_sarcos(0), load_sarcos(1)
    np.testing.assert_array_equal(again["X_train"], d["X_train"])
    assert not np.array_equal(other["X_train"], d["X_train"])


def test_school_dataset_items_and_holdout() -> None:
    train = create_dataset("school", split="train")
    val = create_dataset("school", split="val")
    test = create_dataset("school", split="test")
    assert len(train) + len(val) == 11472 and len(test) == 3890
    # train and val partition the standard training rows (same multiset of (school, score) pairs)
    ref = load_school(1)
    pairs = sorted(zip(torch.cat([train.task_ids, val.task_ids]).tolist(),
                       torch.cat([train.y[:, 0], val.y[:, 0]]).tolist()))
    assert pairs == sorted(zip(ref["task_train"].tolist(), ref["y_train"].astype(np.float32).tolist()))
    assert [t.name for t in train.tasks] == ["score"] and train.tasks[0].kind == "regression"
    x, y = train[0]
    assert x.dtype == torch.float32 and x.shape == (28,) and y["score"].shape == (1,)
    # every school with >= 2 training students keeps students in both train and val
    counts = np.bincount(load_school(1)["task_train"], minlength=139)
    assert set(val.task_ids.tolist()) == set(np.flatnonzero(counts >= 2).tolist())
    assert set(train.task_ids.tolist()) == set(range(139))
    full = create_dataset("school", split="train", val_fraction=0.0)
    assert len(full) == 11472
    with pytest.raises(ValueError, match="val_fraction"):
        create_dataset("school", split="val", val_fraction=0.0)
    xb, yb = next(iter(DataLoader(train, batch_size=4)))
    assert xb.shape == (4, 28) and yb["score"].shape == (4, 1)


def test_sarcos_dataset_items_and_standardize() -> None:
    ds = create_dataset("sarcos", split="val")
    assert len(ds) == 449 and [t.name for t in ds.tasks] == [f"torque_{k}" for k in range(1, 8)]
    x, y = ds[3]
    ref = load_sarcos(0)
    np.testing.assert_allclose(x.numpy(), ref["X_val"][3], rtol=1e-6)
    np.testing.assert_allclose(y["torque_7"].numpy(), ref["Y_val"][3, 6:7], rtol=1e-6)
    st = create_dataset("sarcos", split="train", standardize=True)
    np.testing.assert_allclose(st.y.mean(0).numpy(), 0.0, atol=1e-4)
    np.testing.assert_allclose(st.y.std(0, unbiased=False).numpy(), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="'dev'.*train, val, test"):
        create_dataset("sarcos", split="dev")
