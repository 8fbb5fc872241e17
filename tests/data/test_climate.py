"""Climate stations: fixtures in the stations' export format (quoted CSV, dd/mm/YYYY HH:MM, N/A, per-station
columns, a short trailing row, one file gzipped) written by the test."""

from __future__ import annotations

import csv
import gzip
import io

import numpy as np
import pytest

import multitask as mt
from multitask.classic import L21Regressor
from multitask.data.climate import Climate, load_climate

COLUMNS = {
    "bramblemet": ["WSPD", "WD", "GST", "ATMP", "WTMP", "BARO", "DEPTH", "VIS"],
    "cambermet": ["WSPD", "WD", "GST", "ATMP", "WTMP", "BARO", "DEPTH", "VIS"],
    "chimet": ["WSPD", "WD", "GST", "ATMP", "WTMP", "BARO", "DEPTH", "AWVHT", "MWVHT", "WVHT", "APD"],
    "sotonmet": ["WSPD", "WD", "GST", "ATMP", "BARO", "DEPTH"],
}
N = 40  # readings per station


def value(k: int, i: int, col: str) -> float:
    """A reading of station k at step i: the air temperature is linear in the wind and tide signals."""
    wspd, wd, gst, depth = 5 + (i * 7 % 11), (i * 37 + 10 * k) % 360, 8 + (i * 5 % 13), 1 + (i % 9) / 4
    if col == "ATMP":
        return round(10 + 0.3 * wspd - 0.01 * wd + 0.1 * k * gst + 0.5 * depth, 2)
    return {"WSPD": wspd, "WD": wd, "GST": gst, "DEPTH": depth}.get(col, 1000.0 + i)


def write_station(root, k: int, station: str, gz: bool = False) -> list[list[str]]:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(["Date", "Time", *COLUMNS[station]])
    rows = []
    for i in range(N):
        minute = 5 * i + 60 * k  # stations start an hour apart
        day, hh, mm = 1 + minute // 1440, minute % 1440 // 60, minute % 60
        fields = [f"{day:02d}/07/2020", f"{hh:02d}:{mm:02d}"]
        fields += [f"{value(k, i, c):.2f}" for c in COLUMNS[station]]
        if station == "cambermet":
            fields[2 + COLUMNS[station].index("BARO")] = "N/A"
            if i % 10 == 3:
                fields = fields[:-1]  # the export drops a missing trailing VIS
        if i == 7:
            fields[2 + COLUMNS[station].index("ATMP")] = "N/A"
        rows.append(fields)
        w.writerow(fields)
    data = buf.getvalue().encode()
    if gz:
        (root / f"{station}.csv.gz").write_bytes(gzip.compress(data))
    else:
        (root / f"{station}.csv").write_bytes(data)
    return rows


@pytest.fixture
def stations(tmp_path):
    for k, s in enumerate(COLUMNS):
        write_station(tmp_path, k, s, gz=s == "chimet")
    return tmp_path


def test_arrays_follow_the_school_layout(stations) -> None:
    d = load_climate(stations)
    assert list(d["stations"]) == list(COLUMNS) and list(d["features"]) == ["WSPD", "WD", "GST", "DEPTH"]
    # 39 complete readings per station (step 7 lacks ATMP); round(0.25 * 39) = 10 test, 29 train
    assert np.array_equal(np.bincount(d["task_train"]), [29] * 4)
    assert np.array_equal(np.bincount(d["task_test"]), [10] * 4)
    assert d["X_train"].shape == (116, 5) and np.all(d["X_train"][:, -1] == 1)
    rows = np.flatnonzero(d["task_train"] == 2)  # chimet, read from .csv.gz
    assert np.allclose(d["X_train"][rows[0], :4], [value(2, 0, c) for c in ("WSPD", "WD", "GST", "DEPTH")])
    assert d["y_train"][rows[0]] == value(2, 0, "ATMP") and d["y_train"][rows[7]] == value(2, 8, "ATMP")
    np.testing.assert_allclose(d["time_train"][rows[:2]], [2 / 24, 2 / 24 + 5 / 1440])  # 2 h after bramblemet
    for k in range(4):  # chronological cut: every test reading is later than every training one
        assert d["time_test"][d["task_test"] == k].min() > d["time_train"][d["task_train"] == k].max()
    window = load_climate(stations, start="2020-07-01T01:00", end="2020-07-01T03:00", stations=["bramblemet"])
    assert window["time_train"].min() == 0 and len(window["y_train"]) + len(window["y_test"]) == 24


def test_torch_dataset_and_classic_estimator(stations) -> None:
    tr = mt.create_dataset("climate", split="train", root=str(stations))
    va, te = Climate("val", str(stations)), Climate("test", str(stations))
    assert (len(tr), len(va), len(te)) == (4 * 26, 4 * 3, 4 * 10)
    x, y = tr[0]
    assert x.shape == (5,) and list(y) == ["atmp"] and tr.stations == list(COLUMNS)
    assert [(t.name, t.kind) for t in tr.tasks] == [("atmp", "regression")]
    z = Climate("train", str(stations), standardize=True)
    assert abs(float(z.x[:, :-1].mean())) < 1e-5 and abs(float(z.y.mean())) < 1e-5
    assert np.allclose(z.x[:, -1].numpy(), 1)
    d = load_climate(stations)
    mu, sd = d["X_train"][:, :-1].mean(0), d["X_train"][:, :-1].std(0)
    model = L21Regressor(rho1=1e-3).fit((d["X_train"][:, :-1] - mu) / sd, d["y_train"], task=d["task_train"])
    pred = model.predict((d["X_test"][:, :-1] - mu) / sd, task=d["task_test"])
    assert np.max(np.abs(pred - d["y_test"])) < 0.1  # the planted per-station linear law is recovered


def test_errors(stations, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"(?s)sotonmet\.csv' has no column\(s\) \['WTMP'\]; its header"):
        load_climate(stations, features=["WSPD", "WTMP"])
    with pytest.raises(ValueError, match="features must be distinct signals other than the target"):
        load_climate(stations, features=["ATMP"])
    with pytest.raises(ValueError, match=r"cambermet\.csv' has 0 complete readings"):
        load_climate(stations, features=["BARO"], stations=["cambermet"])
    with pytest.raises(FileNotFoundError, match=r"(?s)nowhere\.csv' nor its \.csv\.gz exists.*N/A = missing"):
        load_climate(stations, stations=["nowhere"])
    (tmp_path / "bad").mkdir()
    head = '"Date","Time","ATMP","WSPD"\n'
    (tmp_path / "bad" / "sotonmet.csv").write_text(head + '"2020-07-01","00:00","1","2"\n')
    with pytest.raises(ValueError, match=r"line 2: date/time '2020-07-01' '00:00' is not dd/mm/YYYY HH:MM"):
        load_climate(tmp_path / "bad", features=["WSPD"], stations=["sotonmet"])
    (tmp_path / "bad" / "sotonmet.csv").write_text(head + '"01/07/2020","00:00","x","2"\n')
    with pytest.raises(ValueError, match=r"line 2: ATMP = 'x' is not a number"):
        load_climate(tmp_path / "bad", features=["WSPD"], stations=["sotonmet"])
