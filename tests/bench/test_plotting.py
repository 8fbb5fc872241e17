"""The cosine heat map helpers: cluster order for many tasks, numbers only for a few."""

import numpy as np

from multitask.bench import _plotting as P


def _planted(num_tasks: int, groups: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of interleaved planted groups (task t in group t mod groups), with noise."""
    rng = np.random.default_rng(seed)
    label = np.arange(num_tasks) % groups
    m = np.where(label[:, None] == label[None], 0.7, -0.1) + rng.normal(0, 0.05, (num_tasks, num_tasks))
    m = np.clip((m + m.T) / 2, -1, 1)
    np.fill_diagonal(m, 1.0)
    return m, label


def test_cluster_order_puts_each_planted_group_in_one_block() -> None:
    m, label = _planted(40, 4)
    order = P.cluster_order(m)
    assert sorted(order) == list(range(40))
    in_order = label[order]
    assert int((in_order[1:] != in_order[:-1]).sum()) == 3  # four contiguous blocks
    assert int((label[1:] != label[:-1]).sum()) == 39  # the task order hides them


def test_cluster_order_takes_nan_as_unrelated_and_small_maps_as_they_are() -> None:
    m, label = _planted(12, 3, seed=1)
    m[0, 5] = m[5, 0] = np.nan
    in_order = label[P.cluster_order(m)]
    assert int((in_order[1:] != in_order[:-1]).sum()) == 2
    assert P.cluster_order(np.eye(2)) == [0, 1]


def test_heatmap_of_40_tasks_has_no_numbers_and_cluster_ordered_ticks() -> None:
    plt = P.plt()
    m, label = _planted(40, 4)
    tasks = [f"t{i}" for i in range(40)]
    fig, ax = plt.subplots()
    P.cosine_heatmap(ax, m, tasks, "ew")
    assert len(ax.texts) == 0
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == [tasks[i] for i in P.cluster_order(m)]
    shown = ax.images[0].get_array()
    idx = [int(t[1:]) for t in ticks]
    assert np.allclose(shown, m[np.ix_(idx, idx)])
    assert "cluster order" in ax.get_title()
    plt.close(fig)


def test_heatmap_of_three_tasks_keeps_task_order_and_writes_values() -> None:
    plt = P.plt()
    m = np.array([[1.0, 0.25, -0.5], [0.25, 1.0, 0.1], [-0.5, 0.1, 1.0]])
    fig, ax = plt.subplots()
    P.cosine_heatmap(ax, m, ["a", "b", "c"], "ew")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.2f}" for v in m.ravel())
    plt.close(fig)
