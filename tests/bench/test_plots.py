"""Plot helpers: labels that do not overlap, whole-epoch positions, zoom that keeps the bulk in view."""

import itertools

import numpy as np

from multitask.bench import _plotting as P
from multitask.bench.plots import _inliers


def test_pareto_labels_do_not_overlap_each_other_or_the_points():
    rng = np.random.default_rng(0)
    xs, ys = 0.80 + 0.01 * rng.random(25), 0.75 + 0.01 * rng.random(25)  # a tight cluster
    plt = P.plt()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.scatter(xs, ys)
    ax.set_xlim(0.798, 0.812)
    ax.set_ylim(0.748, 0.762)
    texts = P.place_labels(ax, xs, ys, [f"method_{i}" for i in range(25)])
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    pts = ax.transData.transform(np.column_stack([xs, ys]))
    for box in boxes:  # no label covers a marker
        assert not any(box.contains(x, y) for x, y in pts)
    plt.close(fig)


def test_step_positions_in_whole_epochs_and_zoom():
    rows = [{"epoch": e} for e in (0, 0, 0, 0, 1, 1, 1, 1)]
    assert P.step_epochs(rows).tolist() == [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]
    pts = np.array([[0.80, 0.75], [0.81, 0.76], [0.805, 0.74], [0.79, 0.755], [0.82, 0.75], [0.25, 0.16]])
    assert _inliers(pts).tolist() == [True] * 5 + [False]  # ortho_reg-like outlier left out of the view
