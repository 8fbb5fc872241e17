"""The Computer Survey conjoint data (Lenk, DeSarbo, Green & Young 1996): one regression task per respondent.

Lenk, DeSarbo, Green & Young, "Hierarchical Bayes conjoint analysis: recovery of partworth heterogeneity
from reduced experimental designs", Marketing Science 15(2), 1996. MBA students rated 20 personal-computer
profiles, each described by 13 binary attributes coded -1/+1 (telephone hot line, RAM, screen size, CPU
speed, hard disk, CD-ROM/multimedia, cache, colour, availability, warranty, bundled software, money-back
guarantee, price), on an 11-point likelihood-of-purchase scale 0..10. Used as a multi-task benchmark by
Evgeniou, Micchelli & Pontil (JMLR 2005) and Argyriou, Evgeniou & Pontil ("Convex multi-task feature
learning", Machine Learning 2008), who report 180 respondents.

Released format read here: ``conjointAnalysisComputerBuyers.mat`` of the PMTK data collection (also read by
PyMTL and other multi-task code), with ``designMarix`` (sic; 20 x 14: a constant column, then the 13
attributes), ``likeBuy`` (190 x 20 ratings, one row per respondent) and ``computerDataZ`` (190 x 7
respondent covariates, first column constant). The release's ``Computer Design Matrix Lenk.txt`` names
profiles 1-16 the calibration design and 17-20 the validation design: the default train/test split.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from multitask.data._common import check_split, require_root
from multitask.data._task_rows import TaskRowsDataset, holdout_mask
from multitask.data.registry import register_dataset
from multitask.data.tabular import _loadmat

FILE = "conjointAnalysisComputerBuyers.mat"
ATTRIBUTES = ("hot_line", "ram", "screen_size", "cpu_speed", "hard_disk", "cd_rom", "cache", "color",
              "availability", "warranty", "software", "guarantee", "price")
NUM_PROFILES = 20
VALIDATION_PROFILES = (17, 18, 19, 20)

LAYOUT = f"""root/
  {FILE}   designMarix (20 x 14: constant, 13 attributes in -1/+1),
      likeBuy (respondents x 20 ratings 0..10), computerDataZ (respondents x 7 covariates)"""


def load_computer_survey(root: str | os.PathLike[str] | None,
                         test_profiles: Sequence[int] = VALIDATION_PROFILES) -> dict[str, np.ndarray]:
    """Load the Computer Survey in :func:`~multitask.data.tabular.load_school`'s array layout.

    Args:
        root: folder holding ``conjointAnalysisComputerBuyers.mat`` (not shipped; nothing is downloaded).
        test_profiles: 1-based profile numbers held out for testing (default 17-20, Lenk et al.'s
            validation design); the other profiles are the training rows of every respondent.

    Returns:
        ``X_train`` float64 ``[n_tr, 14]`` (the 13 attributes in :data:`ATTRIBUTES` order, then the
        constant column last, as School's bias), ``y_train`` float64 ``[n_tr]`` (rating 0..10),
        ``task_train`` int64 ``[n_tr]`` (respondent 0..R-1), the same for ``test``, and ``Z`` float64
        ``[R, 7]`` (the respondent covariates as stored). Rows are grouped by respondent, profiles in order.
    """
    base = require_root(root, "computer_survey", LAYOUT)
    mat = _loadmat(base / FILE, ("designMarix", "likeBuy", "computerDataZ"), "computer_survey", LAYOUT)
    design = mat["designMarix"].astype(np.float64)
    ratings = mat["likeBuy"].astype(np.float64)
    covariates = mat["computerDataZ"].astype(np.float64)
    path = str(base / FILE)
    if design.shape != (NUM_PROFILES, 1 + len(ATTRIBUTES)) or not np.isin(design[:, 1:], (-1, 1)).all():
        raise ValueError(f"computer_survey: {path!r} designMarix is {design.shape}; expected 20 x 14 with "
                         "the 13 attributes coded -1/+1")
    if not np.all(design[:, 0] == 1):
        raise ValueError(f"computer_survey: {path!r} designMarix's first column must be the constant 1")
    n = ratings.shape[0]
    if ratings.ndim != 2 or ratings.shape[1] != NUM_PROFILES or n == 0:
        raise ValueError(f"computer_survey: {path!r} likeBuy is {ratings.shape}; expected respondents x 20")
    if np.isnan(ratings).any() or ratings.min() < 0 or ratings.max() > 10:
        raise ValueError(f"computer_survey: {path!r} likeBuy has ratings outside 0..10")
    if covariates.ndim != 2 or covariates.shape[0] != n:
        raise ValueError(f"computer_survey: {path!r} computerDataZ is {covariates.shape}; expected {n} rows")
    test = sorted({int(p) for p in test_profiles})
    if not test or test[0] < 1 or test[-1] > NUM_PROFILES or len(test) == NUM_PROFILES:
        raise ValueError(f"computer_survey: test_profiles must be a non-empty proper subset of 1..20, "
                         f"got {list(test_profiles)}")
    features = np.concatenate([design[:, 1:], design[:, :1]], axis=1)  # constant last, as School's bias
    out: dict[str, np.ndarray] = {"Z": covariates}
    is_test = np.isin(np.arange(1, NUM_PROFILES + 1), test)
    for name, profiles in (("train", np.flatnonzero(~is_test)), ("test", np.flatnonzero(is_test))):
        out[f"X_{name}"] = np.tile(features[profiles], (n, 1))
        out[f"y_{name}"] = ratings[:, profiles].reshape(-1)
        out[f"task_{name}"] = np.repeat(np.arange(n, dtype=np.int64), profiles.size)
    return out


@register_dataset("computer_survey")
class ComputerSurvey(TaskRowsDataset):
    """The Computer Survey (Lenk et al., Marketing Science 1996) as a torch dataset, like ``school``: one
    shared regression head, the respondent is the task id (``self.task_ids``, int64 ``[N]``;
    ``self.num_respondents``). Items are ``(x float32 [14], {"rating": float32 [1]})`` with ``x`` the 13
    -1/+1 attributes and a constant 1 last. See :func:`load_computer_survey` for the file and the split.

    ``"test"`` is the held-out profiles (default 17-20, Lenk et al.'s validation design). ``"val"`` is
    carved from every respondent's training profiles: ``val_fraction`` of them (at least one), chosen by
    ``np.random.default_rng(seed)``; ``"train"`` is the rest.

    Args:
        split: "train", "val" or "test".
        root: folder holding ``conjointAnalysisComputerBuyers.mat``.
        test_profiles: 1-based profiles held out for testing.
        val_fraction: share of each respondent's training profiles held out for validation (default 0.125).
        seed: seed of the validation hold-out.
    """

    def __init__(self, split: str = "train", root: str | None = None,
                 test_profiles: Sequence[int] = VALIDATION_PROFILES, val_fraction: float = 0.125,
                 seed: int = 0) -> None:
        check_split("computer_survey", split, ("train", "val", "test"))
        fraction = self._check_val("computer_survey", split, val_fraction)
        d = load_computer_survey(root, test_profiles)
        self._set_rows(d, split, lambda t: holdout_mask(t, fraction, seed), "rating")
        self.num_respondents = int(d["Z"].shape[0])

