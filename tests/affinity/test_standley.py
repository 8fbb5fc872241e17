import itertools
import json

import numpy as np
import pytest

from multitask.affinity.standley import (
    higher_order_approximation,
    pairwise_matrix,
    performance_from_runs,
    select_networks,
)


def random_performance(tasks, rng, max_size=None):
    top = len(tasks) if max_size is None else max_size
    return {
        g: {t: float(rng.uniform(0.1, 1.0)) for t in g}
        for r in range(1, top + 1)
        for g in itertools.combinations(tasks, r)
    }


def brute_force(perf, budget, cost):
    """Every subset of candidate networks within the budget that solves every task."""
    tasks = sorted({t for g in perf for t in g})
    groups = list(perf)
    best = np.inf
    for m in range(1, len(groups) + 1):
        for sel in itertools.combinations(groups, m):
            if sum(cost(g) for g in sel) > budget + 1e-12:
                continue
            vals = [min((perf[g][t] for g in sel if t in g), default=np.inf) for t in tasks]
            best = min(best, sum(vals))
    return best


@pytest.mark.parametrize(
    ("t", "budget", "single"), [(3, 1.0, 1.0), (3, 2.0, 0.5), (4, 2.0, 1.0), (4, 2.5, 0.5)]
)
def test_branch_and_bound_equals_brute_force(t, budget, single):
    rng = np.random.default_rng(10 * t + int(2 * budget))
    tasks = [f"t{i}" for i in range(t)]
    for _ in range(3):
        perf = random_performance(tasks, rng, max_size=3 if t == 4 else None)
        res = select_networks(perf, budget, single_task_cost=single)
        ref = brute_force(perf, budget, lambda g: single if len(g) == 1 else 1.0)
        assert res.loss == pytest.approx(ref, abs=1e-12)
        assert res.cost <= budget + 1e-12
        assert sorted(res.assignment) == sorted(tasks)
        for task, k in res.assignment.items():
            assert task in res.networks[k]
            assert res.task_losses[task] == pytest.approx(
                min(perf[g][task] for g in res.networks if task in g)
            )


def test_budget_and_costs():
    perf = {("a",): {"a": 1.0}, ("b",): {"b": 1.0}, ("a", "b"): {"a": 0.9, "b": 1.5}}
    assert select_networks(perf, 1.0, single_task_cost=1.0).networks == (("a", "b"),)  # the pair only
    two = select_networks(perf, 2.0, single_task_cost=1.0)  # pair for a, b alone
    assert set(two.networks) == {("a", "b"), ("b",)} and two.loss == pytest.approx(1.9)
    cheap = select_networks(perf, 1.0)  # two half-size singles fit (main.cpp's default cost 0.5)
    assert set(cheap.networks) == {("a",), ("b",)} and cheap.cost == pytest.approx(1.0)
    custom = select_networks(perf, 1.0, costs=lambda g: 0.4 * len(g))  # pair + single = 1.2 > 1
    assert set(custom.networks) == {("a",), ("b",)} and custom.loss == pytest.approx(2.0)
    with pytest.raises(ValueError, match="no set of networks"):
        select_networks(perf, 0.4, single_task_cost=1.0)
    with pytest.raises(ValueError, match="no cost given"):
        select_networks(perf, 1.0, costs={("a",): 0.5})
    with pytest.raises(ValueError, match="budget must be a positive"):
        select_networks(perf, 0)
    with pytest.raises(ValueError, match=r"performance\[\('a', 'b'\)\]\['b'\] must be a finite"):
        select_networks({("a", "b"): {"a": 1.0, "b": float("nan")}}, 1.0)


def test_higher_order_approximation_averages_the_pairs():
    rng = np.random.default_rng(0)
    tasks = ["a", "b", "c", "d"]
    perf = random_performance(tasks, rng, max_size=2)
    hoa = higher_order_approximation(perf)
    assert len(hoa) == 15
    for g in [("a", "b", "c"), ("a", "b", "c", "d")]:
        for t in g:
            pairs = [perf[tuple(sorted((t, u)))][t] for u in g if u != t]
            assert hoa[g][t] == pytest.approx(np.mean(pairs))
    assert hoa[("a", "b")] == perf[("a", "b")]
    assert len(higher_order_approximation(perf, max_size=3)) == 14
    measured = {**perf, ("a", "b", "c"): {"a": 0.0, "b": 0.0, "c": 0.0}}
    assert higher_order_approximation(measured)[("a", "b", "c")] == hoa[("a", "b", "c")]  # replaced
    assert higher_order_approximation(measured, keep_measured=True)[("a", "b", "c")]["a"] == 0.0
    del perf[("a", "c")]
    with pytest.raises(ValueError, match="no result for the pair"):
        higher_order_approximation(perf)


def test_runs_to_pairwise_matrix(tmp_path):
    def run(name, tasks, acc, seed=0):
        folder = tmp_path / name / f"seed{seed}"
        folder.mkdir(parents=True)
        result = {"tasks": tasks, "test": {t: {"accuracy": acc[t]} for t in tasks},
                  "higher_is_better": {t: {"accuracy": True} for t in tasks}}  # fmt: skip
        (folder / "result.json").write_text(json.dumps(result))
        return folder

    dirs = [
        run("a", ["a"], {"a": 0.80}),
        run("b", ["b"], {"b": 0.70}),
        run("ab", ["a", "b"], {"a": 0.85, "b": 0.60}),
        run("ab", ["a", "b"], {"a": 0.87, "b": 0.62}, seed=1),
    ]
    perf = performance_from_runs(dirs, "accuracy")
    assert perf[("a", "b")] == pytest.approx({"a": -0.86, "b": -0.61})  # negated: lower is better
    a = pairwise_matrix(perf)
    np.testing.assert_allclose(a, [[0.0, -0.09], [0.06, 0.0]])  # b helps a by 0.06, a hurts b
    res = select_networks(perf, 1.5)  # a pair (1) and a half-size single (0.5)
    assert set(res.networks) == {("a", "b"), ("b",)}
    with pytest.raises(ValueError, match="no test 'f1'"):
        performance_from_runs(dirs, "f1")
    with pytest.raises(ValueError, match="does not exist"):
        performance_from_runs([tmp_path / "missing.json"], "accuracy")
