from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from multitask.data import create_dataset
from multitask.data._raycast import GROUND, boundaries, render
from multitask.data.shapes import Shapes, _stack, generate_shapes, sample_scene


@pytest.fixture(autouse=True)
def _cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTITASK_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def sample() -> dict[str, np.ndarray]:
    return generate_shapes(12, size=32, seed=3)


def _top_down_scene(light: list[float]) -> dict:
    """Camera 10 above the origin looking straight down, 90 degree field of view, one unit sphere."""
    return {
        "cam_pos": np.array([0.0, 10.0, 0.0]),
        # columns: camera x (right) = +x, camera y (down) = +z, camera z (forward) = -y
        "cam_rot": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),
        "fov": math.pi / 2, "light": np.array(light) / np.linalg.norm(light), "ambient": 0.25,
        "sky": np.zeros((2, 3)), "ground": np.full((2, 3), 0.5), "checker": 1.0,
        "sphere": [([0.0, 1.0, 0.0, 1.0], [0.9, 0.1, 0.1, 0.0])], "box": [], "cyl": [],
    }


def test_hand_worked_top_down_view() -> None:
    size = 9  # focal = 4.5 px; pixel column c looks at world x = (c + 0.5 - 4.5) / 4.5 * 10
    res = render(_stack([_top_down_scene([1.0, 1.0, 0.0])], size), size)
    depth, seg, normals, image = res["depth"][0], res["segmentation"][0], res["normals"][0], res["image"][0]
    assert depth[4, 4] == pytest.approx(8.0)  # the sphere's top at height 2
    assert seg[4, 4] == 1 and seg[0, 0] == 0
    np.testing.assert_allclose(normals[:, 4, 4], [0.0, 0.0, -1.0], atol=1e-12)
    # the outer ring looks at |x| or |z| = 8.9 > GROUND = 8: sky (depth 0, normals 0); the rest is ground
    ring = np.ones((size, size), bool)
    ring[1:-1, 1:-1] = False
    assert np.all(depth[ring] == 0) and np.all(normals[:, ring] == 0)
    ground = (seg == 0) & ~ring
    np.testing.assert_allclose(depth[ground], 10.0)  # the ground is parallel to the image plane
    np.testing.assert_allclose(normals[:, ground].T, np.tile([0.0, 0.0, -1.0], (ground.sum(), 1)), atol=1e-12)
    # light at 45 degrees from +x: the shadow ellipse is centred at x = -1 with semi-axis sqrt(2) along x
    shadowed = 0.5 * 0.25  # ground albedo x ambient
    lit = 0.5 * (0.25 + 0.75 * math.cos(math.pi / 4))
    np.testing.assert_allclose(image[:, 4, 3], shadowed)  # ground x = -2.22, inside the shadow
    np.testing.assert_allclose(image[:, 4, 6], lit)  # ground x = +4.44
    # the sphere's top: normal (0, 1, 0), so n . l = cos 45 as well
    top = np.array([0.9, 0.1, 0.1]) * (0.25 + 0.75 * math.cos(math.pi / 4))
    np.testing.assert_allclose(image[:, 4, 4], top)


def _ref_hit(o: np.ndarray, d: np.ndarray, scene: dict) -> tuple[float, int, np.ndarray]:
    """Scalar reference ray caster: (depth, class, world normal); a different formulation per primitive."""
    best = (math.inf, 0, np.zeros(3))
    if d[1] < 0:
        t = -o[1] / d[1]
        p = o + t * d
        if abs(p[0]) <= GROUND and abs(p[2]) <= GROUND:
            best = (t, 0, np.array([0.0, 1.0, 0.0]))
    for (cx, cy, cz, r), _ in scene["sphere"]:  # geometric method on the normalised direction
        c = np.array([cx, cy, cz])
        L = np.linalg.norm(d)
        u = d / L
        tca = np.dot(c - o, u)
        d2 = np.dot(c - o, c - o) - tca * tca
        if tca > 0 and d2 <= r * r:
            t = (tca - math.sqrt(r * r - d2)) / L
            if t < best[0]:
                best = (t, 1, (o + t * d - c) / r)
    for (cx, cy, cz, hx, hy, hz, yaw), _ in scene["box"]:  # six face planes in the box frame
        rot = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
        ol, dl, h = rot @ (o - np.array([cx, cy, cz])), rot @ d, np.array([hx, hy, hz])
        for axis in range(3):
            for sign in (-1.0, 1.0):
                if dl[axis] == 0:
                    continue
                t = (sign * h[axis] - ol[axis]) / dl[axis]
                p = ol + t * dl
                others = [k for k in range(3) if k != axis]
                if t > 0 and all(abs(p[k]) <= h[k] for k in others) and t < best[0]:
                    nl = np.zeros(3)
                    nl[axis] = sign
                    best = (t, 2, rot.T @ nl)
    for (bx, bz, r, h, _), _ in scene["cyl"]:
        if d[1] != 0:  # top cap
            t = (h - o[1]) / d[1]
            p = o + t * d
            if t > 0 and (p[0] - bx) ** 2 + (p[2] - bz) ** 2 <= r * r and t < best[0]:
                best = (t, 3, np.array([0.0, 1.0, 0.0]))
        a = d[0] ** 2 + d[2] ** 2
        b = 2 * ((o[0] - bx) * d[0] + (o[2] - bz) * d[2])
        c = (o[0] - bx) ** 2 + (o[2] - bz) ** 2 - r * r
        if b * b - 4 * a * c >= 0:
            t = (-b - math.sqrt(b * b - 4 * a * c)) / (2 * a)
            p = o + t * d
            if t > 0 and 0 <= p[1] <= h and t < best[0]:
                best = (t, 3, np.array([p[0] - bx, 0.0, p[2] - bz]) / r)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_render_matches_scalar_reference(seed: int) -> None:
    size = 16
    scene = sample_scene(np.random.default_rng([11, seed]), max_objects=6)
    res = render(_stack([scene], size), size)
    f = size / 2 / math.tan(scene["fov"] / 2)
    R = scene["cam_rot"]
    for row in range(size):
        for col in range(size):
            ray = np.array([(col + 0.5 - size / 2) / f, (row + 0.5 - size / 2) / f, 1.0])
            t, cls, n = _ref_hit(scene["cam_pos"], R @ ray, scene)
            assert res["segmentation"][0, row, col] == cls
            assert res["depth"][0, row, col] == pytest.approx(t if math.isfinite(t) else 0.0, rel=1e-9)
            np.testing.assert_allclose(res["normals"][0, :, row, col], R.T @ n, atol=1e-6)
            if math.isfinite(t):  # visible surfaces face the camera
                assert np.dot(res["normals"][0, :, row, col], ray) < 0


def test_ground_truth_properties(sample: dict[str, np.ndarray]) -> None:
    seg, depth, edges = sample["segmentation"], sample["depth"], sample["edges"]
    normals = sample["normals"].astype(np.float64)
    norm = np.linalg.norm(normals, axis=1)
    valid = depth > 0
    assert valid.mean() > 0.5 and (seg > 0).any() and set(np.unique(seg)) <= {0, 1, 2, 3}
    np.testing.assert_allclose(norm[valid], 1.0, atol=2e-3)  # float16 storage
    assert np.all(norm[~valid] == 0) and np.all(seg[~valid] == 0)  # sky: invalid, background
    assert np.all(depth[seg > 0] > 0)  # every object pixel has positive depth
    # every edge pixel has a 4-neighbour with another label or a depth jump (incl. valid/invalid)
    pad_s = np.pad(seg, ((0, 0), (1, 1), (1, 1)), mode="edge")
    pad_d = np.pad(depth, ((0, 0), (1, 1), (1, 1)), mode="edge")
    jump = np.zeros(seg.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        ns = pad_s[:, dy : dy + seg.shape[1], dx : dx + seg.shape[2]]
        nd = pad_d[:, dy : dy + seg.shape[1], dx : dx + seg.shape[2]]
        jump |= (ns != seg) | (np.abs(nd - depth) > 0.02 * np.maximum(nd, depth))
    assert edges.any() and np.all(jump[edges == 1])
    # and every label change is an edge
    assert np.all(edges[:, 1:, :][seg[:, 1:, :] != seg[:, :-1, :]] == 1)
    assert np.all(edges[:, :, 1:][seg[:, :, 1:] != seg[:, :, :-1]] == 1)


def test_boundaries_hand_example() -> None:
    inst = np.array([[[0, 0, 1], [0, 0, 1], [-1, -1, -1]]])
    expected = np.array([[[0, 1, 1], [1, 1, 1], [1, 1, 1]]], np.uint8)
    np.testing.assert_array_equal(boundaries(inst), expected)


def test_dataset_items_collate_and_tasks() -> None:
    ds = create_dataset("shapes", split="val", n=6, size=24)
    assert len(ds) == 6 and [t.name for t in ds.tasks] == ["segmentation", "depth", "normals", "edges"]
    assert ds.tasks[0].num_outputs == 4
    x, y = ds[0]
    assert x.dtype == torch.float32 and x.shape == (3, 24, 24) and 0 <= x.min() and x.max() <= 1
    assert y["segmentation"].dtype == torch.int64 and y["segmentation"].shape == (24, 24)
    assert y["depth"].shape == (1, 24, 24) and y["normals"].shape == (3, 24, 24)
    assert y["edges"].shape == (1, 24, 24) and set(y["edges"].unique().tolist()) <= {0.0, 1.0}
    n = y["normals"].norm(dim=0)
    valid = y["depth"][0] > 0
    torch.testing.assert_close(n[valid], torch.ones_like(n[valid]), atol=1e-6, rtol=0)
    xb, yb = next(iter(DataLoader(ds, batch_size=3)))
    assert xb.shape == (3, 3, 24, 24) and yb["normals"].shape == (3, 3, 24, 24)


def test_a_perfect_edge_prediction_scores_one_with_the_tasks_own_metric() -> None:
    """The two-pixel-wide boundaries are thinned before matching (the task's metric_options), so the
    truth itself scores ODS-F 1; scored unthinned it would not."""
    from multitask.metrics import MultiTaskMetrics
    from multitask.metrics.edges import EdgeMetrics

    ds = create_dataset("shapes", split="val", n=8, size=32)
    edges = next(t for t in ds.tasks if t.name == "edges")
    truth = torch.stack([ds[i][1]["edges"] for i in range(8)])
    logits = truth * 20 - 10
    ours = MultiTaskMetrics([edges])
    ours.update({"edges": logits}, {"edges": truth})
    assert ours.compute()["edges"]["ods_f"] == pytest.approx(1.0)
    plain = EdgeMetrics(task="edges")
    plain.update(logits, truth)
    assert plain.compute()["ods_f"] < 0.8


def test_determinism_splits_and_cache(tmp_path: Path) -> None:
    a = Shapes(split="train", n=4, size=16, cache=False)
    b = Shapes(split="train", n=4, size=16, cache_dir=str(tmp_path))
    c = Shapes(split="train", n=4, size=16, cache_dir=str(tmp_path))  # read back from the cache
    longer = Shapes(split="train", n=6, size=16, cache=False)
    for k in a.data:
        assert torch.equal(a.data[k], b.data[k]) and torch.equal(a.data[k], c.data[k])
        assert torch.equal(a.data[k], longer.data[k][:4])  # scene i does not depend on n
    assert b.cache_path is not None and b.cache_path.is_file()
    val = Shapes(split="val", n=4, size=16, cache=False)
    other_seed = Shapes(split="train", n=4, size=16, seed=1, cache=False)
    for other in (val, other_seed):  # no scene of another split or seed repeats a training scene
        for i in range(4):
            assert all(not torch.equal(a.data["depth"][i], other.data["depth"][j]) for j in range(4))
    # a truncated cache is rebuilt
    assert b.cache_path is not None
    b.cache_path.write_bytes(b.cache_path.read_bytes()[:100])
    d = Shapes(split="train", n=4, size=16, cache_dir=str(tmp_path))
    assert torch.equal(d.data["image"], a.data["image"])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="'testing'.*train, val, test"):
        Shapes(split="testing")
    with pytest.raises(ValueError, match="max_objects"):
        Shapes(n=2, max_objects=1, cache=False)
