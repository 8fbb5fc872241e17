"""Climate sensor data: the four Solent weather stations (Bramblemet, Cambermet, Chimet, Sotonmet) as tasks.

The stations of the Solentmet network on the south coast of England report about ten signals every five
minutes (wind speed ``WSPD`` and gust ``GST`` in knots, direction ``WD`` in degrees, air / water temperature
``ATMP`` / ``WTMP`` in °C, pressure ``BARO`` in mbar, tide height ``DEPTH`` in m, visibility ``VIS``, and
at Chimet the wave heights ``AWVHT``, ``MWVHT``, ``WVHT`` and period ``APD``). Multi-output regression
work treats each station as a task (Osborne, Roberts, Rogers, Ramchurn & Jennings, "Towards real-time
information processing of sensor network data using computationally efficient multi-output Gaussian
processes", IPSN 2008; Álvarez & Lawrence's multi-output GP benchmarks; the "Climate" dataset of MTL surveys).

Released format read here: each station's archive export, a quoted CSV ``"Date","Time",<signals>`` with
``dd/mm/YYYY`` dates, ``HH:MM`` times and ``N/A`` (or an empty / absent trailing field) for a missing
reading; the columns differ by station (Sotonmet has no ``WTMP``; Cambermet reports ``BARO`` as ``N/A``).
These are the files the MOGPTK toolkit ships as ``examples/data/bramblemet/<station>.csv.gz``.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from multitask.data._common import check_split, require_root
from multitask.data._task_rows import TaskRowsDataset
from multitask.data.registry import register_dataset

STATIONS = ("bramblemet", "cambermet", "chimet", "sotonmet")
DEFAULT_FEATURES = ("WSPD", "WD", "GST", "DEPTH")  # reported by all four stations
_MISSING = {"", "N/A", "NA", "NAN", "-"}

LAYOUT = """root/
  bramblemet.csv, cambermet.csv, chimet.csv, sotonmet.csv   (or <station>.csv.gz) the stations' exports:
      "Date","Time","WSPD","WD","GST","ATMP",...   dd/mm/YYYY, HH:MM, 5-minute readings, N/A = missing"""


def _station_file(base: Path, station: str) -> Path:
    for name in (f"{station}.csv", f"{station}.csv.gz"):
        if (base / name).is_file():
            return base / name
    raise FileNotFoundError(f"climate: neither {str(base / (station + '.csv'))!r} nor its .csv.gz exists. "
                            f"Expected layout:\n{LAYOUT}")


def read_station(path: Path, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one station export: (times ``datetime64[m]`` ``[n]``, values float64 ``[n, len(columns)]``,
    NaN where missing). A column absent from the header is a ValueError listing the header."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = raw.decode("utf-8-sig")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ValueError(f"climate: cannot read {str(path)!r}: {e}") from e
    rows = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(rows, [])]
    wanted = ["Date", "Time", *columns]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ValueError(f"climate: {str(path)!r} has no column(s) {missing}; its header: {header}")
    idx = [header.index(c) for c in wanted]
    stamps: list[str] = []
    values: list[list[float]] = []
    for line, row in enumerate(rows, start=2):
        if not row or not any(f.strip() for f in row):
            continue
        fields = [row[i].strip() if i < len(row) else "" for i in idx]
        date, clock = fields[0], fields[1]
        if len(date) != 10 or date[2] != "/" or date[5] != "/" or len(clock) != 5 or clock[2] != ":":
            raise ValueError(f"climate: {str(path)!r} line {line}: date/time {date!r} {clock!r} is not "
                             "dd/mm/YYYY HH:MM")
        stamps.append(f"{date[6:]}-{date[3:5]}-{date[:2]}T{clock}")
        vals = []
        for col, f in zip(columns, fields[2:]):
            if f.upper() in _MISSING:
                vals.append(np.nan)
                continue
            try:
                vals.append(float(f))
            except ValueError:
                raise ValueError(
                    f"climate: {str(path)!r} line {line}: {col} = {f!r} is not a number") from None
        values.append(vals)
    try:
        times = np.array(stamps, dtype="datetime64[m]")
    except ValueError as e:
        raise ValueError(f"climate: {str(path)!r} has an invalid date: {e}") from e
    return times, np.array(values, dtype=np.float64).reshape(len(stamps), len(columns))


def load_climate(root: str | os.PathLike[str] | None, target: str = "ATMP",
                 features: Sequence[str] = DEFAULT_FEATURES, stations: Sequence[str] = STATIONS,
                 start: str | None = None, end: str | None = None,
                 test_fraction: float = 0.25) -> dict[str, np.ndarray]:
    """Load the station exports in :func:`~multitask.data.tabular.load_school`'s array layout: one task per
    station, each row a 5-minute reading, ``target`` regressed on the co-measured ``features``.

    Args:
        root: folder holding ``<station>.csv`` or ``<station>.csv.gz`` (nothing is downloaded).
        target: the signal to predict (default ``ATMP``, air temperature).
        features: the input signals (default wind speed, direction, gust and tide height: the signals all
            four stations report).
        stations: which stations, in task order.
        start: keep readings with ``start <= time`` (an ISO date such as ``"2020-07-01"``; None: all).
        end: keep readings with ``time < end`` (an ISO date; None: all).
        test_fraction: each station's last (most recent) ``round(test_fraction * n)`` complete readings are
            the test rows, the earlier ones the training rows (a chronological cut; the default 0.25).

    Returns:
        ``X_train`` float64 ``[n_tr, len(features) + 1]`` (the features, then a constant 1 last, as School's
        bias), ``y_train`` float64 ``[n_tr]``, ``task_train`` int64 ``[n_tr]`` (station index),
        ``time_train`` float64 ``[n_tr]`` (days since the first kept reading of any station), the same for
        ``test``, and ``stations`` / ``features`` (str arrays). Readings missing the target or a feature are
        dropped; rows are grouped by station in time order.
    """
    base = require_root(root, "climate", LAYOUT)
    feats, names = [str(f) for f in features], [str(s) for s in stations]
    if not feats or target in feats or len(set(feats)) != len(feats):
        raise ValueError(f"climate: features must be distinct signals other than the target {target!r}, "
                         f"got {feats}")
    if not names or len(set(names)) != len(names):
        raise ValueError(f"climate: stations must be distinct names, got {names}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"climate: test_fraction must be in (0, 1), got {test_fraction!r}")
    lo = None if start is None else np.datetime64(start, "m")
    hi = None if end is None else np.datetime64(end, "m")
    per_station = []
    for s in names:
        path = _station_file(base, s)
        times, vals = read_station(path, [target, *feats])
        keep = ~np.isnan(vals).any(axis=1)
        if lo is not None:
            keep &= times >= lo
        if hi is not None:
            keep &= times < hi
        order = np.argsort(times[keep], kind="stable")
        times, vals = times[keep][order], vals[keep][order]
        n_test = int(round(float(test_fraction) * len(times)))
        if n_test < 1 or n_test >= len(times):
            raise ValueError(f"climate: {str(path)!r} has {len(times)} complete readings of "
                             f"{[target, *feats]} in the chosen window: too few for a train/test cut")
        per_station.append((times, vals, len(times) - n_test))
    t0 = min(t[0] for t, _, _ in per_station)
    out: dict[str, np.ndarray] = {"stations": np.array(names), "features": np.array(feats)}
    for part in ("train", "test"):
        xs, ys, ts, days = [], [], [], []
        for k, (times, vals, cut) in enumerate(per_station):
            sel = slice(None, cut) if part == "train" else slice(cut, None)
            v = vals[sel]
            xs.append(np.concatenate([v[:, 1:], np.ones((len(v), 1))], axis=1))
            ys.append(v[:, 0])
            ts.append(np.full(len(v), k, dtype=np.int64))
            days.append((times[sel] - t0).astype(np.float64) / (24 * 60))
        out[f"X_{part}"], out[f"y_{part}"] = np.concatenate(xs), np.concatenate(ys)
        out[f"task_{part}"], out[f"time_{part}"] = np.concatenate(ts), np.concatenate(days)
    return out


@register_dataset("climate")
class Climate(TaskRowsDataset):
    """The Solent climate stations (see :func:`load_climate`) as a torch dataset, like ``school``: one shared
    regression head, the station is the task id (``self.task_ids``, int64 ``[N]``; ``self.stations``).
    Items are ``(x float32 [F + 1], {target.lower(): float32 [1]})``: the feature signals and a constant 1.

    ``"test"`` is each station's most recent ``test_fraction`` of readings; ``"val"`` the last
    ``val_fraction`` of each station's remaining (training) readings, ``"train"`` the earlier ones, so the
    three are in time order.

    Args:
        split: "train", "val" or "test".
        root: folder holding the station exports.
        val_fraction: share of each station's training readings held out for validation (default 0.1).
        standardize: standardise features (not the constant) and target with the train split's mean and
            standard deviation (``x_mean``, ``x_std``, ``y_mean``, ``y_std``; default False).

    ``target``, ``features``, ``stations``, ``start``, ``end`` and ``test_fraction`` are as in
    :func:`load_climate`.
    """

    def __init__(self, split: str = "train", root: str | None = None, target: str = "ATMP",
                 features: Sequence[str] = DEFAULT_FEATURES, stations: Sequence[str] = STATIONS,
                 start: str | None = None, end: str | None = None, test_fraction: float = 0.25,
                 val_fraction: float = 0.1, standardize: bool = False) -> None:
        check_split("climate", split, ("train", "val", "test"))
        fraction = self._check_val("climate", split, val_fraction)
        d = load_climate(root, target, features, stations, start, end, test_fraction)

        def latest(task: np.ndarray) -> np.ndarray:  # each station's last readings: a chronological hold-out
            is_val = np.zeros(len(task), dtype=bool)
            for k in range(len(d["stations"])):
                rows = np.flatnonzero(task == k)
                is_val[rows[len(rows) - int(round(fraction * len(rows))):]] = True
            return is_val

        def scale(X: np.ndarray, y: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            Xtr, ytr = d["X_train"][~held], d["y_train"][~held]  # statistics of the training rows only
            self.x_mean, self.x_std = Xtr[:, :-1].mean(0), Xtr[:, :-1].std(0)
            self.y_mean, self.y_std = float(ytr.mean()), float(ytr.std())
            X = X.copy()
            X[:, :-1] = (X[:, :-1] - self.x_mean) / np.where(self.x_std > 0, self.x_std, 1.0)
            return X, (y - self.y_mean) / (self.y_std if self.y_std > 0 else 1.0)

        self._set_rows(d, split, latest, target.lower(), scale if standardize else None)
        self.stations = [str(s) for s in d["stations"]]
