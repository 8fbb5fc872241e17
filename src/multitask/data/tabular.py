"""Tabular multi-task regression: School (139 tasks) and SARCOS (7 tasks), shipped with the package.

Two layers:

* :func:`load_school` and :func:`load_sarcos` are plain numpy loaders (scipy reads the ``.mat`` files) for
  the classical estimators and benchmarks;
* the registered torch datasets ``"school"`` and ``"sarcos"`` wrap them for the trainer.

Sources (see ``_assets/school/DATA.md``, ``_assets/school/README.txt`` and ``_assets/sarcos/DATA.md``):

* School: Inner London Education Authority exam scores (Goldstein, *The Statistician* 1991), in the
  release of Argyriou, Evgeniou & Pontil, "Convex multi-task feature learning", *Machine Learning* 2008:
  15,362 students of 139 schools, 27 binary/percentage attributes + 1 bias column, ten standard splits.
* SARCOS: inverse dynamics of a 7-DOF robot arm, Rasmussen & Williams, *Gaussian Processes for Machine
  Learning*, MIT Press 2006 (the official 4,449-row test file only): 21 inputs, 7 joint torques.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import ASSETS, check_split, require_path
from multitask.data._task_rows import TaskRowsDataset, holdout_mask
from multitask.data.registry import register_dataset

SCHOOL_NUM_TASKS = 139
SCHOOL_NUM_FEATURES = 28
SARCOS_SIZES = (3000, 449, 1000)

_SCHOOL_LAYOUT = """root/
  school_b.mat             x (28 x 15362), y (15362 x 1), task_indexes (139 x 1, 1-based)
  school_{1..10}_indexes.mat   tr, tst (1-based student indexes), tr_indexes, tst_indexes"""
_SARCOS_LAYOUT = """root/
  sarcos_inv_test.mat      sarcos_inv_test (4449 x 28): 21 inputs then 7 torques"""


def _loadmat(path: Path, keys: tuple[str, ...], dataset: str, layout: str) -> dict[str, np.ndarray]:
    from scipy.io import loadmat

    require_path(path, dataset, layout)
    try:
        mat = loadmat(str(path))
    except Exception as e:
        raise ValueError(f"{dataset}: cannot read {str(path)!r} as a MATLAB file: {e}") from e
    missing = [k for k in keys if k not in mat]
    if missing:
        raise ValueError(
            f"{dataset}: {str(path)!r} lacks the variable(s) {missing}. Expected layout:\n{layout}"
        )
    return {k: np.asarray(mat[k]) for k in keys}


def load_school(split: int = 1, root: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """Load one of the ten standard School splits as numpy arrays.

    Args:
        split: which standard split, 1..10 (the files' ``school_{split}_indexes.mat``).
        root: folder with the ``.mat`` files; default: the copy shipped in the package.

    Returns:
        ``X_train`` float64 ``[n_tr, 28]`` (students x the 27 attributes + the bias column, last),
        ``y_train`` float64 ``[n_tr]`` (exam score), ``task_train`` int64 ``[n_tr]`` (school id 0..138),
        and the same for ``X_test``, ``y_test``, ``task_test``. Rows keep the files' order (grouped by
        school). The files' 1-based indexes are converted to 0-based.
    """
    if isinstance(split, bool) or not isinstance(split, (int, np.integer)) or not 1 <= int(split) <= 10:
        raise ValueError(f"school: split must be an integer in 1..10, got {split!r}")
    base = Path(root) if root is not None else ASSETS / "school"
    data = _loadmat(base / "school_b.mat", ("x", "y", "task_indexes"), "school", _SCHOOL_LAYOUT)
    idx = _loadmat(base / f"school_{int(split)}_indexes.mat", ("tr", "tst"), "school", _SCHOOL_LAYOUT)
    X = data["x"].astype(np.float64).T
    y = data["y"].astype(np.float64).reshape(-1)
    starts = data["task_indexes"].astype(np.int64).reshape(-1) - 1
    n = X.shape[0]
    if X.shape[1] != SCHOOL_NUM_FEATURES or y.shape[0] != n:
        raise ValueError(f"school: school_b.mat has x {data['x'].shape} and y {data['y'].shape}; "
                         f"expected x (28, n) and y (n, 1)")
    if starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] >= n:
        raise ValueError("school: school_b.mat task_indexes must be increasing 1-based first rows")
    task = np.searchsorted(starts, np.arange(n), side="right").astype(np.int64) - 1
    out: dict[str, np.ndarray] = {}
    for key, name in (("tr", "train"), ("tst", "test")):
        rows = idx[key].astype(np.int64).reshape(-1) - 1
        if rows.size == 0 or rows.min() < 0 or rows.max() >= n:
            raise ValueError(f"school: school_{split}_indexes.mat {key!r} has indexes outside 1..{n}")
        out[f"X_{name}"] = X[rows]
        out[f"y_{name}"] = y[rows]
        out[f"task_{name}"] = task[rows]
    return out


def load_sarcos(seed: int = 0, root: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """Load SARCOS (the 4,449-row official test file) split 3000 / 449 / 1000 by a seeded permutation.

    Args:
        seed: seed of ``np.random.default_rng(seed).permutation(4449)``; rows ``perm[:3000]`` are train,
            ``perm[3000:3449]`` validation, ``perm[3449:]`` test.
        root: folder with ``sarcos_inv_test.mat``; default: the copy shipped in the package.

    Returns:
        ``X_train`` float64 ``[3000, 21]`` (7 joint positions, 7 velocities, 7 accelerations),
        ``Y_train`` float64 ``[3000, 7]`` (the 7 joint torques), ``X_val``/``Y_val`` (449 rows),
        ``X_test``/``Y_test`` (1000 rows).
    """
    base = Path(root) if root is not None else ASSETS / "sarcos"
    raw = _loadmat(base / "sarcos_inv_test.mat", ("sarcos_inv_test",), "sarcos", _SARCOS_LAYOUT)
    data = raw["sarcos_inv_test"].astype(np.float64)
    if data.ndim != 2 or data.shape[1] != 28 or data.shape[0] != sum(SARCOS_SIZES):
        raise ValueError(f"sarcos: sarcos_inv_test has shape {data.shape}; expected (4449, 28)")
    perm = np.random.default_rng(seed).permutation(data.shape[0])
    n_tr, n_va, _ = SARCOS_SIZES
    parts = {"train": perm[:n_tr], "val": perm[n_tr : n_tr + n_va], "test": perm[n_tr + n_va :]}
    out: dict[str, np.ndarray] = {}
    for name, rows in parts.items():
        out[f"X_{name}"] = data[rows, :21]
        out[f"Y_{name}"] = data[rows, 21:]
    return out


@register_dataset("school")
class SchoolDataset(TaskRowsDataset):
    """School exam scores as a torch dataset: one shared regression head, the school is the task id.

    Argyriou, Evgeniou & Pontil, "Convex multi-task feature learning", Machine Learning 2008 (data:
    Goldstein, The Statistician 1991). Each item is ``(x, {"score": y})`` with ``x`` float32 ``[28]``
    (the 27 attributes + bias) and ``y`` float32 ``[1]``; ``self.task_ids`` (int64 ``[N]``) says which
    of the 139 schools each student belongs to (the classical "one task per school" view: a trainer or
    estimator that wants per-school tasks groups samples by ``task_ids``). ``self.tasks`` holds the single
    regression task ``score``; ``self.num_schools`` is 139.

    The standard splits have only train and test. ``"val"`` is carved from the standard train rows:
    ``val_fraction`` of each school's training students (at least one when the school has two or more),
    chosen by ``np.random.default_rng(seed)``; ``"train"`` is the rest. With ``val_fraction=0`` the train
    split is the standard one and ``"val"`` is an error.

    Args:
        split: "train", "val" or "test".
        root: folder with the ``.mat`` files (default: the shipped copy).
        fold: which of the ten standard splits (1..10).
        val_fraction: share of each school's training students held out for validation (default 0.1).
        seed: seed of the validation hold-out.
    """

    def __init__(self, split: str = "train", root: str | None = None, fold: int = 1,
                 val_fraction: float = 0.1, seed: int = 0) -> None:
        check_split("school", split, ("train", "val", "test"))
        fraction = self._check_val("school", split, val_fraction, " (the standard splits: train/test)")
        self._set_rows(load_school(fold, root), split, lambda t: holdout_mask(t, fraction, seed), "score")
        self.num_schools = SCHOOL_NUM_TASKS


@register_dataset("sarcos")
class SarcosDataset(Dataset):
    """SARCOS inverse dynamics: 21 shared inputs, 7 regression tasks ``torque_1`` .. ``torque_7``.

    Rasmussen & Williams, Gaussian Processes for Machine Learning, MIT Press 2006 (the official test file
    only; split 3000 / 449 / 1000 by :func:`load_sarcos`). Items are ``(x, {"torque_k": y_k})`` with
    ``x`` float32 ``[21]`` and each ``y_k`` float32 ``[1]``.

    Args:
        split: "train", "val" or "test".
        root: folder with ``sarcos_inv_test.mat`` (default: the shipped copy).
        seed: seed of the split permutation.
        standardize: if True, inputs and each torque are standardised with the *train* split's mean and
            standard deviation (stored as ``x_mean``, ``x_std``, ``y_mean``, ``y_std``; default False).
    """

    def __init__(self, split: str = "train", root: str | None = None, seed: int = 0,
                 standardize: bool = False) -> None:
        check_split("sarcos", split, ("train", "val", "test"))
        d = load_sarcos(seed, root)
        X, Y = d[f"X_{split}"], d[f"Y_{split}"]
        if standardize:
            self.x_mean, self.x_std = d["X_train"].mean(0), d["X_train"].std(0)
            self.y_mean, self.y_std = d["Y_train"].mean(0), d["Y_train"].std(0)
            X = (X - self.x_mean) / np.where(self.x_std > 0, self.x_std, 1.0)
            Y = (Y - self.y_mean) / np.where(self.y_std > 0, self.y_std, 1.0)
        self.split = split
        self.x = torch.from_numpy(X.astype(np.float32))
        self.y = torch.from_numpy(Y.astype(np.float32))
        self.tasks = [Task(f"torque_{k + 1}", "regression", 1) for k in range(7)]

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        y = self.y[i]
        return self.x[i], {f"torque_{k + 1}": y[k : k + 1] for k in range(7)}
