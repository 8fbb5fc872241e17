"""Computer Survey: a fixture in the PMTK release's format (conjointAnalysisComputerBuyers.mat, its variable
names and integer types) written by the test."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.io import savemat

import multitask as mt
from multitask.classic import L21Regressor
from multitask.data.computer_survey import ComputerSurvey, load_computer_survey

R = 6  # respondents


def write_survey(root, rng: np.random.Generator, w: np.ndarray | None = None) -> dict:
    design = np.ones((20, 14), dtype=np.int16)
    design[:, 1:] = rng.choice([-1, 1], size=(20, 13))
    if w is None:
        ratings = rng.integers(0, 11, (R, 20))
    else:  # ratings from per-respondent linear partworths, clipped to the 0..10 scale
        ratings = np.clip(np.rint(5 + design[:, 1:] @ w.T).T, 0, 10)
    covariates = np.concatenate([np.ones((R, 1)), rng.integers(0, 2, (R, 4)), rng.integers(0, 9, (R, 2))], 1)
    mat = {"designMarix": design, "likeBuy": ratings.astype(np.uint8),
           "computerDataZ": covariates.astype(np.uint8)}
    savemat(root / "conjointAnalysisComputerBuyers.mat", mat)
    return mat


def test_arrays_follow_the_school_layout(tmp_path) -> None:
    mat = write_survey(tmp_path, np.random.default_rng(0))
    d = load_computer_survey(tmp_path)
    assert d["X_train"].shape == (R * 16, 14) and d["X_test"].shape == (R * 4, 14)
    assert np.all(d["X_train"][:, -1] == 1) and set(np.unique(d["X_train"][:, :-1])) == {-1.0, 1.0}
    # respondent 2's rows: profiles 1..16 in order, then test profiles 17..20
    rows = d["task_train"] == 2
    assert np.array_equal(d["X_train"][rows][:, :13], mat["designMarix"][:16, 1:])
    assert np.array_equal(d["y_train"][rows], mat["likeBuy"][2, :16])
    assert np.array_equal(d["y_test"][d["task_test"] == 2], mat["likeBuy"][2, 16:])
    assert np.array_equal(d["task_test"], np.repeat(np.arange(R), 4)) and d["Z"].shape == (R, 7)
    other = load_computer_survey(tmp_path, test_profiles=[1, 20])
    assert other["X_test"].shape == (2 * R, 14)
    assert np.array_equal(other["y_test"][:2], mat["likeBuy"][0, [0, 19]])


def test_torch_dataset_splits(tmp_path) -> None:
    write_survey(tmp_path, np.random.default_rng(1))
    tr = mt.create_dataset("computer_survey", split="train", root=str(tmp_path))
    va = ComputerSurvey("val", str(tmp_path))
    te = ComputerSurvey("test", str(tmp_path))
    assert (len(tr), len(va), len(te)) == (R * 14, R * 2, R * 4)  # 0.125 * 16 = 2 per respondent
    assert torch.equal(torch.bincount(va.task_ids), torch.full((R,), 2))
    x, y = tr[0]
    assert x.shape == (14,) and y["rating"].shape == (1,) and tr.num_respondents == R
    assert [(t.name, t.kind) for t in tr.tasks] == [("rating", "regression")]
    assert len(ComputerSurvey("train", str(tmp_path), val_fraction=0)) == R * 16


def test_classic_estimator_fits_it(tmp_path) -> None:
    rng = np.random.default_rng(2)
    shared = rng.normal(0, 1.0, 13) * (rng.random(13) < 0.4)
    w = shared + rng.normal(0, 0.1, (R, 13))
    write_survey(tmp_path, rng, w=w)
    d = load_computer_survey(tmp_path)
    model = L21Regressor(rho1=0.5).fit(d["X_train"][:, :-1], d["y_train"], task=d["task_train"])
    pred = model.predict(d["X_test"][:, :-1], task=d["task_test"])
    mse = np.mean((pred - d["y_test"]) ** 2)
    baseline = np.mean((d["y_train"].mean() - d["y_test"]) ** 2)
    assert pred.shape == d["y_test"].shape and mse < 0.5 * baseline


def test_errors(tmp_path) -> None:
    missing = r"(?s)conjointAnalysisComputerBuyers\.mat' does not exist.*likeBuy"
    with pytest.raises(FileNotFoundError, match=missing):
        load_computer_survey(tmp_path)
    rng = np.random.default_rng(3)
    mat = write_survey(tmp_path, rng)
    with pytest.raises(ValueError, match=r"test_profiles must be a non-empty proper subset of 1\.\.20"):
        load_computer_survey(tmp_path, test_profiles=[21])
    path = tmp_path / "conjointAnalysisComputerBuyers.mat"
    savemat(path, {**mat, "likeBuy": mat["likeBuy"] + 5})
    with pytest.raises(ValueError, match="likeBuy has ratings outside 0..10"):
        load_computer_survey(tmp_path)
    savemat(path, {k: v for k, v in mat.items() if k != "computerDataZ"})
    with pytest.raises(ValueError, match=r"lacks the variable\(s\) \['computerDataZ'\]"):
        load_computer_survey(tmp_path)
    savemat(path, {**mat, "designMarix": mat["designMarix"][:, 1:]})
    with pytest.raises(ValueError, match="designMarix is \\(20, 13\\)"):
        load_computer_survey(tmp_path)
