"""Δm in the three conventions on a hand-worked example, plus the reference formulas of the papers' code."""

from __future__ import annotations

import numpy as np
import pytest

from multitask.metrics import delta_m, delta_m_per_task, relative_changes

RESULTS = {
    "seg": {"miou": 0.44, "pixel_acc": 0.66, "f1": 0.5},
    "depth": {"abs_err": 0.5, "rel_err": 0.2},
}
BASELINE = {
    "seg": {"miou": 0.40, "pixel_acc": 0.60, "f1": 0.5},
    "depth": {"abs_err": 0.4, "rel_err": 0.25},
}
HIGHER = {
    "seg": {"miou": True, "pixel_acc": True, "f1": True},
    "depth": {"abs_err": False, "rel_err": False},
}
# signed relative changes (positive = better): miou +10, pixel_acc +10, f1 0, abs_err -25, rel_err +20


def test_relative_changes_hand_worked() -> None:
    changes = relative_changes(RESULTS, BASELINE, HIGHER)
    assert changes["seg"] == pytest.approx({"miou": 10.0, "pixel_acc": 10.0, "f1": 0.0})
    assert changes["depth"] == pytest.approx({"abs_err": -25.0, "rel_err": 20.0})


def test_vandenhende_hand_worked() -> None:
    # main metrics: miou (+10) and abs_err (-25): (10 - 25) / 2
    assert delta_m(RESULTS, BASELINE, HIGHER) == pytest.approx(-7.5)
    assert delta_m_per_task(RESULTS, BASELINE, HIGHER) == pytest.approx({"seg": 10.0, "depth": -25.0})
    # choosing rel_err as depth's main metric: (10 + 20) / 2
    assert delta_m(RESULTS, BASELINE, HIGHER, main={"depth": "rel_err"}) == pytest.approx(15.0)


def test_nashmtl_hand_worked_and_reference_formula() -> None:
    # mean over all 5 metrics of -(signed change): -(10 + 10 + 0 - 25 + 20) / 5; lower = better
    value = delta_m(RESULTS, BASELINE, HIGHER, convention="nashmtl")
    assert value == pytest.approx(-3.0)
    # the formula of the Nash-MTL code: (kk ** sign * (a - base) / base).mean() * 100, kk = -1, sign = higher
    a = np.array([0.44, 0.66, 0.5, 0.5, 0.2])
    base = np.array([0.40, 0.60, 0.5, 0.4, 0.25])
    sign = np.array([1, 1, 1, 0, 0])
    assert value == pytest.approx(((-1.0) ** sign * (a - base) / base).mean() * 100.0)
    per_task = delta_m_per_task(RESULTS, BASELINE, HIGHER, convention="nashmtl")
    assert per_task == pytest.approx({"seg": -20 / 3, "depth": 2.5})


def test_libmtl_hand_worked_and_reference_formula() -> None:
    # per task mean of signed changes: seg 20/3, depth -2.5; then mean over tasks
    value = delta_m(RESULTS, BASELINE, HIGHER, convention="libmtl")
    assert value == pytest.approx((20 / 3 - 2.5) / 2)
    # LibMTL's count_improvement: mean_t mean_m (-1)^w (B - N) / B, w = 1 when higher is better
    total = 0.0
    for task in HIGHER:
        w = np.array([int(h) for h in HIGHER[task].values()])
        b = np.array(list(BASELINE[task].values()))
        n = np.array(list(RESULTS[task].values()))
        total += np.mean((-1.0) ** w * (b - n) / b)
    assert value == pytest.approx(100 * total / len(HIGHER))


def test_higher_is_better_selects_what_counts() -> None:
    reduced = {"seg": {"miou": True}, "depth": {"rel_err": False}}  # extra results entries are ignored
    assert delta_m(RESULTS, BASELINE, reduced, convention="nashmtl") == pytest.approx(-(10 + 20) / 2)
    assert delta_m(RESULTS, BASELINE, {"depth": HIGHER["depth"]}) == pytest.approx(-25.0)


def test_identical_results_give_zero_and_negative_baseline_keeps_meaning() -> None:
    for convention in ("vandenhende", "nashmtl", "libmtl"):
        assert delta_m(BASELINE, BASELINE, HIGHER, convention=convention) == 0.0
    # explained variance can be negative: going from -0.5 to 0.5 is an improvement (+200 %)
    higher = {"r": {"explained_variance": True}}
    assert delta_m({"r": {"explained_variance": 0.5}}, {"r": {"explained_variance": -0.5}}, higher) == 200.0


def test_delta_errors_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="'depth' is missing from results"):
        delta_m({"seg": RESULTS["seg"]}, BASELINE, HIGHER)
    with pytest.raises(ValueError, match="'seg'.*'miou' is missing from baseline"):
        delta_m(RESULTS, {"seg": {"pixel_acc": 1.0}, "depth": BASELINE["depth"]}, HIGHER)
    zero = {"seg": dict(BASELINE["seg"], miou=0.0), "depth": BASELINE["depth"]}
    with pytest.raises(ValueError, match="'seg'.*'miou' is 0"):
        delta_m(RESULTS, zero, HIGHER)
    with pytest.raises(ValueError, match="convention"):
        delta_m(RESULTS, BASELINE, HIGHER, convention="maninis")
    with pytest.raises(ValueError, match="'depth'.*'delta1'"):
        delta_m(RESULTS, BASELINE, HIGHER, main={"depth": "delta1"})
    with pytest.raises(ValueError, match="'normals'"):
        delta_m(RESULTS, BASELINE, HIGHER, main={"normals": "mean_angle"})
    with pytest.raises(TypeError, match="'seg'.*bool"):
        delta_m(RESULTS, BASELINE, {"seg": {"miou": 1}})
    nan = {"seg": dict(RESULTS["seg"], miou=float("nan")), "depth": RESULTS["depth"]}
    with pytest.raises(ValueError, match="'seg'.*not finite"):
        delta_m(nan, BASELINE, HIGHER)
    with pytest.raises(ValueError, match="at least one task"):
        delta_m(RESULTS, BASELINE, {})
