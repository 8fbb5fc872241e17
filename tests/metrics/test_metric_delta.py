"""Δm in the three conventions on a hand-worked example, plus the reference formulas of the papers' code."""

from __future__ import annotations

import numpy as np
import pytest

from multitask.metrics import delta_m, delta_m_per_task, delta_metrics, relative_changes

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


# ---- each convention's published metrics, with the full metric sets our metric objects report --------
FULL_HIB = {
    "semseg": {"miou": True, "pixel_acc": True, "miou_all": True},
    "depth": {"abs_err": False, "rel_err": False, "rmse": False, "delta1": True},
    "normals": {"mean_angle": False, "median_angle": False, "within_11.25": True, "within_22.5": True,
                "within_30": True},
    "edge": {"ods_f": True, "f1": True, "precision": True, "recall": True},
}  # fmt: skip
FULL_MTL = {
    "semseg": {"miou": 0.42, "pixel_acc": 0.70, "miou_all": 0.40},
    "depth": {"abs_err": 0.55, "rel_err": 0.22, "rmse": 0.80, "delta1": 0.70},
    "normals": {"mean_angle": 21.0, "median_angle": 15.0, "within_11.25": 0.35, "within_22.5": 0.60,
                "within_30": 0.70},
    "edge": {"ods_f": 0.66, "f1": 0.60, "precision": 0.5, "recall": 0.7},
}  # fmt: skip
FULL_STL = {
    "semseg": {"miou": 0.40, "pixel_acc": 0.72, "miou_all": 0.38},
    "depth": {"abs_err": 0.50, "rel_err": 0.20, "rmse": 0.82, "delta1": 0.72},
    "normals": {"mean_angle": 20.0, "median_angle": 14.0, "within_11.25": 0.36, "within_22.5": 0.62,
                "within_30": 0.72},
    "edge": {"ods_f": 0.70, "f1": 0.62, "precision": 0.55, "recall": 0.66},
}  # fmt: skip


def _survey(mtl: dict, stl: dict) -> float:
    """The survey's calculate_multi_task_performance, re-derived (times 100, as it prints it)."""
    total = 0.0
    for task in mtl:
        if task == "depth":
            total -= (mtl[task]["rmse"] - stl[task]["rmse"]) / stl[task]["rmse"]
        elif task == "semseg":  # the survey's mIoU is the all-classes mean
            total += (mtl[task]["miou_all"] - stl[task]["miou_all"]) / stl[task]["miou_all"]
        elif task == "normals":
            total -= (mtl[task]["mean_angle"] - stl[task]["mean_angle"]) / stl[task]["mean_angle"]
        elif task == "edge":
            total += (mtl[task]["ods_f"] - stl[task]["ods_f"]) / stl[task]["ods_f"]
    return 100.0 * total / len(mtl)


def test_vandenhende_uses_the_survey_main_metrics() -> None:
    value = delta_m(FULL_MTL, FULL_STL, FULL_HIB, convention="vandenhende")
    assert value == pytest.approx(_survey(FULL_MTL, FULL_STL))
    # hand: semseg +2/0.38, depth +0.02/0.82, normals -1/20, edge -0.04/0.70 (in %)
    hand = 100 * (0.02 / 0.38 + 0.02 / 0.82 - 1 / 20 - 0.04 / 0.70) / 4
    assert value == pytest.approx(hand)
    assert delta_metrics(FULL_HIB) == {
        "semseg": ("miou_all",), "depth": ("rmse",), "normals": ("mean_angle",), "edge": ("ods_f",)
    }
    # the former rule (first reported metric: miou, abs_err) gives another number; still on offer by name
    listed = delta_m(FULL_MTL, FULL_STL, FULL_HIB, select="listed")
    assert listed == pytest.approx(100 * (0.02 / 0.40 - 0.05 / 0.50 - 1 / 20 - 0.04 / 0.70) / 4)
    assert abs(listed - value) > 1.0
    # the trainer's call, on a depth-only task, must use rmse (not abs_err)
    depth = {"depth": FULL_HIB["depth"]}
    assert delta_m(FULL_MTL, FULL_STL, depth, convention="vandenhende") == pytest.approx(100 * 0.02 / 0.82)


NASH_SET = {
    "semseg": ["miou", "pixel_acc"],
    "depth": ["abs_err", "rel_err"],
    "normals": ["mean_angle", "median_angle", "within_11.25", "within_22.5", "within_30"],
}


def test_nashmtl_and_libmtl_count_the_nyuv2_nine_metrics() -> None:
    hib = {t: FULL_HIB[t] for t in NASH_SET}
    # Nash-MTL's delta_fn over its 9 NYUv2 metrics: mean_k (-1)^{h_k} (a_k - b_k) / b_k * 100, lower = better
    a = np.array([FULL_MTL[t][m] for t, ms in NASH_SET.items() for m in ms])
    b = np.array([FULL_STL[t][m] for t, ms in NASH_SET.items() for m in ms])
    sign = np.array([int(FULL_HIB[t][m]) for t, ms in NASH_SET.items() for m in ms])
    assert len(a) == 9
    nash = ((-1.0) ** sign * (a - b) / b).mean() * 100.0
    assert delta_m(FULL_MTL, FULL_STL, hib, convention="nashmtl") == pytest.approx(nash)
    # LibMTL's count_improvement: mean over tasks of the mean over the task's metrics, positive = better
    per_task = []
    for t, ms in NASH_SET.items():
        w = np.array([int(FULL_HIB[t][m]) for m in ms])
        bb = np.array([FULL_STL[t][m] for m in ms])
        nn = np.array([FULL_MTL[t][m] for m in ms])
        per_task.append(np.mean((-1.0) ** w * (bb - nn) / bb))
    assert delta_m(FULL_MTL, FULL_STL, hib, convention="libmtl") == pytest.approx(100 * np.mean(per_task))
    assert delta_metrics(hib, "nashmtl") == {t: tuple(ms) for t, ms in NASH_SET.items()}
    # select="listed" counts all 3 + 4 + 5 reported metrics instead
    assert sum(map(len, delta_metrics(hib, "nashmtl", select="listed").values())) == 12


def test_published_metrics_come_from_the_metric_objects() -> None:
    from multitask.metrics import DepthMetrics, EdgeMetrics, NormalsMetrics, SegmentationMetrics

    objects = {"semseg": SegmentationMetrics(3), "depth": DepthMetrics(), "normals": NormalsMetrics(),
               "edge": EdgeMetrics()}  # fmt: skip
    assert {t: m.higher_is_better for t, m in objects.items()} == FULL_HIB
    assert {t: m.main for t, m in objects.items()} == {t: ms[0] for t, ms in delta_metrics(FULL_HIB).items()}
    with pytest.raises(ValueError, match="main="):
        delta_m(FULL_MTL, FULL_STL, FULL_HIB, convention="nashmtl", main={"depth": "rmse"})
    with pytest.raises(ValueError, match="selection"):
        delta_m(FULL_MTL, FULL_STL, FULL_HIB, select="first")


def test_zero_baseline_absolute_counts_the_absolute_change() -> None:
    zero = {"seg": dict(BASELINE["seg"], miou=0.0), "depth": BASELINE["depth"]}
    per_task = delta_m_per_task(RESULTS, zero, HIGHER, zero_baseline="absolute")
    assert per_task["seg"] == pytest.approx(100 * RESULTS["seg"]["miou"])  # (M - 0) · 100, higher is better
    relative = delta_m_per_task(RESULTS, BASELINE, HIGHER)
    assert per_task["depth"] == relative["depth"]  # a non-zero baseline is unchanged
    lower = {"depth": {"abs_err": False}}
    got = delta_m({"depth": {"abs_err": 0.25}}, {"depth": {"abs_err": 0.0}}, lower, zero_baseline="absolute")
    assert got == pytest.approx(-25.0)  # lower is better: the error grew by 0.25
    with pytest.raises(ValueError, match="zero_baseline must be 'error' or 'absolute'"):
        delta_m(RESULTS, BASELINE, HIGHER, zero_baseline="ignore")
