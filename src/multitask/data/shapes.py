"""``shapes``: procedural ray-cast scenes with exact dense ground truth (a stand-in for NYUv2).

Each scene holds 2..``max_objects`` primitives (spheres, boxes rotated about the vertical, capped
vertical cylinders) resting on a checkered square ground plane, seen by a random look-at camera under a
random directional light with hard shadows, random colours, striped textures on some objects, a sky
gradient and pixel noise. The renderer (``_raycast.py``) casts one ray per pixel centre, vectorised in
numpy over a batch of scenes, so segmentation, depth, normals and edges are exact (no anti-aliasing).
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from multitask.core.tasks import Task
from multitask.data._common import check_split, default_cache_dir, load_cache, save_cache
from multitask.data._raycast import SceneBatch, boundaries, render
from multitask.data.registry import register_dataset

NUM_CLASSES = 4
CLASS_NAMES = ("ground/sky", "sphere", "box", "cylinder")
DEFAULT_N = {"train": 2000, "val": 300, "test": 500}
_SPLIT_ID = {"train": 0, "val": 1, "test": 2}
_VERSION = 1
_KEYS = ("image", "segmentation", "depth", "normals", "edges")


def _rgb(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> list[float]:
    return list(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*sat), rng.uniform(*val)))


def sample_scene(rng: np.random.Generator, max_objects: int = 5) -> dict:
    """Draw one scene's parameters (camera, light, colours and non-overlapping objects)."""
    dist, azim = rng.uniform(5.5, 9.0), rng.uniform(0.0, 2 * np.pi)
    elev, fov = np.deg2rad(rng.uniform(20.0, 45.0)), np.deg2rad(rng.uniform(40.0, 55.0))
    target = np.array([rng.uniform(-0.5, 0.5), rng.uniform(0.2, 0.8), rng.uniform(-0.5, 0.5)])
    pos = target + dist * np.array([np.cos(elev) * np.cos(azim), np.sin(elev), np.cos(elev) * np.sin(azim)])
    fwd = (target - pos) / np.linalg.norm(target - pos)
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)  # x right, y down, z forward (a right-handed camera frame)
    l_az, l_el = rng.uniform(0.0, 2 * np.pi), np.deg2rad(rng.uniform(30.0, 75.0))
    scene = {
        "cam_pos": pos, "cam_rot": np.stack([right, down, fwd], axis=1), "fov": fov,
        "light": np.array([np.cos(l_el) * np.cos(l_az), np.sin(l_el), np.cos(l_el) * np.sin(l_az)]),
        "ambient": rng.uniform(0.2, 0.4),
        "sky": np.array([_rgb(rng, (0.0, 0.3), (0.7, 1.0)), _rgb(rng, (0.2, 0.6), (0.5, 0.9))]),
        "ground": np.array([_rgb(rng, (0.0, 0.3), (0.3, 0.7)), _rgb(rng, (0.0, 0.3), (0.3, 0.7))]),
        "checker": rng.uniform(0.5, 1.5), "sphere": [], "box": [], "cyl": [],
    }
    placed: list[tuple[float, float, float]] = []
    for _ in range(int(rng.integers(2, max_objects + 1))):
        kind = int(rng.integers(3))
        if kind == 0:
            r = rng.uniform(0.35, 0.9)
            foot, params = r, [0.0, r, 0.0, r]
        elif kind == 1:
            hx, hy, hz = rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.9), rng.uniform(0.3, 0.8)
            foot, params = float(np.hypot(hx, hz)), [0.0, hy, 0.0, hx, hy, hz, rng.uniform(0, np.pi / 2)]
        else:
            r, h = rng.uniform(0.3, 0.7), rng.uniform(0.5, 1.8)
            foot, params = r, [0.0, 0.0, r, h, 0.0]
        color = _rgb(rng, (0.5, 1.0), (0.6, 1.0)) + [rng.uniform(3.0, 8.0) if rng.uniform() < 0.4 else 0.0]
        for _try in range(30):  # rejection sampling of a free spot (footprints 0.3 apart)
            x, z = rng.uniform(-3.0, 3.0, size=2)
            free = all(np.hypot(x - px, z - pz) > foot + pf + 0.3 for px, pz, pf in placed)
            if x * x + z * z <= 9.0 and free:
                placed.append((x, z, foot))
                if kind == 2:
                    params[0], params[1] = x, z
                else:
                    params[0], params[2] = x, z
                scene[("sphere", "box", "cyl")[kind]].append((params, color))
                break
    return scene


def _stack(scenes: list[dict], size: int) -> SceneBatch:
    def objects(key: str, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = max(len(s[key]) for s in scenes)
        params = np.ones((len(scenes), k, width))  # harmless sizes in inactive slots
        colors, on = np.zeros((len(scenes), k, 4)), np.zeros((len(scenes), k), dtype=bool)
        for b, s in enumerate(scenes):
            for j, (p, c) in enumerate(s[key]):
                params[b, j], colors[b, j], on[b, j] = p, c, True
        return params, colors, on

    sph, sph_c, sph_on = objects("sphere", 4)
    box, box_c, box_on = objects("box", 7)
    cyl, cyl_c, cyl_on = objects("cyl", 5)
    return SceneBatch(
        cam_pos=np.stack([s["cam_pos"] for s in scenes]), cam_rot=np.stack([s["cam_rot"] for s in scenes]),
        focal=np.array([size / 2.0 / np.tan(s["fov"] / 2.0) for s in scenes]),
        light=np.stack([s["light"] for s in scenes]), ambient=np.array([s["ambient"] for s in scenes]),
        sky=np.stack([s["sky"] for s in scenes]), ground=np.stack([s["ground"] for s in scenes]),
        checker=np.array([s["checker"] for s in scenes]), sphere=sph, sphere_color=sph_c, box=box,
        box_color=box_c, cyl=cyl, cyl_color=cyl_c, sphere_on=sph_on, box_on=box_on, cyl_on=cyl_on,
    )


def generate_shapes(n: int, size: int = 64, seed: int = 0, stream: int = 0, max_objects: int = 5,
                    noise: float = 0.02, batch_size: int = 8) -> dict[str, np.ndarray]:
    """Render ``n`` scenes; scene ``i`` depends only on ``(seed, stream, i)``, not on ``n`` or batching.

    Returns compact arrays: ``image`` uint8 ``[n, 3, H, W]``, ``segmentation`` uint8 ``[n, H, W]``,
    ``depth`` float32 ``[n, H, W]``, ``normals`` float16 ``[n, 3, H, W]``, ``edges`` uint8 ``[n, H, W]``.
    """
    hw = (n, size, size)
    out = {"image": np.zeros((n, 3, size, size), np.uint8), "segmentation": np.zeros(hw, np.uint8),
           "depth": np.zeros(hw, np.float32), "normals": np.zeros((n, 3, size, size), np.float16),
           "edges": np.zeros(hw, np.uint8)}
    for start in range(0, n, batch_size):
        idx = range(start, min(n, start + batch_size))
        rngs = [np.random.default_rng([seed, stream, i]) for i in idx]
        scenes = [sample_scene(r, max_objects) for r in rngs]
        res = render(_stack(scenes, size), size)
        noisy = res["image"] + noise * np.stack([r.standard_normal((3, size, size)) for r in rngs])
        sl = slice(start, start + len(idx))
        out["image"][sl] = np.round(np.clip(noisy, 0.0, 1.0) * 255.0)
        out["segmentation"][sl] = res["segmentation"]
        out["depth"][sl] = res["depth"]
        out["normals"][sl] = res["normals"]
        out["edges"][sl] = boundaries(res["instance"])
    return out


@register_dataset("shapes")
class Shapes(Dataset):
    """Synthetic dense scenes: tasks ``segmentation`` (4 classes), ``depth``, ``normals``, ``edges``.

    A procedural stand-in for NYUv2-style dense multi-task learning; the primitive vocabulary (spheres,
    cubes, cylinders on a ground plane) follows CLEVR (Johnson, Hariharan, van der Maaten, Fei-Fei,
    Zitnick, Girshick, "CLEVR: A Diagnostic Dataset for Compositional Language and Elementary Visual
    Reasoning", CVPR 2017), rendered here by exact ray casting instead of Blender. Ground truth per pixel:

    * ``segmentation`` int64 ``[H, W]``: 0 ground or sky (background), 1 sphere, 2 box, 3 cylinder;
    * ``depth`` float32 ``[1, H, W]``: z-depth along the optical axis in scene units, > 0 wherever the
      ground or an object is hit, 0 (invalid) on the sky;
    * ``normals`` float32 ``[3, H, W]``: unit outward surface normal in the camera frame (x right, y down,
      z forward; visible surfaces have z < 0), all-0 (invalid) on the sky;
    * ``edges`` float32 ``[1, H, W]`` in {0, 1}: occlusion and semantic boundaries, i.e. pixels whose
      4-neighbour belongs to another surface (object, ground or sky), marked on both sides. Being two
      pixels wide, they are thinned before matching when scored (the task's ``metric_options``:
      ``EdgeMetrics(thin_truth=True)``), as BSDS/seism score one-pixel-wide human boundaries; unthinned,
      a perfect prediction would score an ODS-F near 0.64.

    Input: float32 ``[3, H, W]`` RGB in [0, 1] (8-bit quantised, not mean/std normalised).

    Splits use independent random streams (``seed``, split) so train/val/test scenes differ; scene ``i``
    of a split does not depend on ``n``. Default sizes: train 2000, val 300, test 500. Built splits are
    cached like MultiMNIST (``cache_dir``, ``$MULTITASK_CACHE``, ...; atomic, checksummed).

    Args:
        split: "train", "val" or "test".
        root: unused (generated data); accepted for the common factory signature.
        size: image side in pixels (default 64).
        n: number of scenes (default by split, see above).
        seed: base seed.
        max_objects: at most this many primitives per scene (default 5, at least 2).
        noise: std of the Gaussian pixel noise added before quantisation (default 0.02).
        cache_dir: cache folder (default as MultiMNIST's, see above).
        cache: read/write the cache (default True).
    """

    def __init__(self, split: str = "train", root: str | None = None, size: int = 64, n: int | None = None,
                 seed: int = 0, max_objects: int = 5, noise: float = 0.02, cache_dir: str | None = None,
                 cache: bool = True) -> None:
        check_split("shapes", split, ("train", "val", "test"))
        n = DEFAULT_N[split] if n is None else int(n)
        if n < 1 or int(size) < 8 or int(max_objects) < 2:
            raise ValueError(f"shapes: need n >= 1, size >= 8 and max_objects >= 2; got n={n}, size={size}, "
                             f"max_objects={max_objects}")
        key = f"shapes_v{_VERSION}_s{size}_n{n}_seed{seed}_m{max_objects}_z{noise:g}_{split}.npz"
        path: Path | None = default_cache_dir(cache_dir) / key if cache else None
        data = load_cache(path, _KEYS) if path is not None else None
        if data is None:
            data = generate_shapes(n, int(size), int(seed), _SPLIT_ID[split], int(max_objects), float(noise))
            if path is not None:
                save_cache(path, data)
        self.split, self.size, self.cache_path = split, int(size), path
        self.data = {k: torch.from_numpy(v) for k, v in data.items()}
        self.num_classes = NUM_CLASSES
        self.class_names = CLASS_NAMES
        edges = Task("edges", "edges", 1, metric_options={"thin_truth": True})  # 2-pixel-wide boundaries
        self.tasks = [Task("segmentation", "segmentation", NUM_CLASSES), Task("depth", "depth", 1),
                      Task("normals", "normals", 3), edges]

    def __len__(self) -> int:
        return self.data["image"].shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        d = self.data
        normals = d["normals"][i].float()
        norm = normals.norm(dim=0, keepdim=True)
        normals = torch.where(norm > 0, normals / norm.clamp_min(1e-12), normals)  # undo float16 rounding
        return d["image"][i].float().div_(255.0), {
            "segmentation": d["segmentation"][i].long(),
            "depth": d["depth"][i].unsqueeze(0).clone(),
            "normals": normals,
            "edges": d["edges"][i].unsqueeze(0).float(),
        }
