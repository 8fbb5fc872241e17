"""Vectorised numpy ray casting of primitive scenes (used by :mod:`multitask.data.shapes`).

World frame: y up, ground plane y = 0 (a square of half-size ``GROUND``). Camera frame (OpenCV): x right,
y down, z forward. Rays are cast through pixel centres with *unnormalised* directions whose camera-frame
z component is 1, so the ray parameter ``t`` of a hit is directly its z-depth.

All intersection routines take rays as six component arrays ``(ox, oy, oz, dx, dy, dz)``, each
``[B, 1, P]`` (or ``[B, 1, 1]``), and per-slot parameters ``[B, S, W]``; they return the nearest hit distance
``[B, S, P]`` (``inf`` when missed, inactive or not beyond ``EPS``). Normals are computed afterwards only
for the visible surface of each pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-4
GROUND = 8.0
SKY, GROUND_ID = -1, 0  # instance ids; objects get 1, 2, ...
CLASS_SPHERE, CLASS_BOX, CLASS_CYLINDER = 1, 2, 3


@dataclass
class SceneBatch:
    """Parameters of ``B`` scenes; object arrays are padded to the batch's maximum count per type."""

    cam_pos: np.ndarray  # [B, 3]
    cam_rot: np.ndarray  # [B, 3, 3], columns = camera x, y, z axes in world coordinates
    focal: np.ndarray  # [B] in pixels
    light: np.ndarray  # [B, 3] unit vector towards the light
    ambient: np.ndarray  # [B]
    sky: np.ndarray  # [B, 2, 3] colours at the horizon and the zenith
    ground: np.ndarray  # [B, 2, 3] checker colours
    checker: np.ndarray  # [B] checker square size
    sphere: np.ndarray  # [B, S, 4]: cx, cy, cz, radius
    sphere_color: np.ndarray  # [B, S, 4]: r, g, b, stripe frequency (0 = plain)
    box: np.ndarray  # [B, K, 7]: cx, cy, cz, half x, half y, half z, yaw
    box_color: np.ndarray  # [B, K, 4]
    cyl: np.ndarray  # [B, C, 5]: base x, base z, radius, height, unused
    cyl_color: np.ndarray  # [B, C, 4]
    sphere_on: np.ndarray  # [B, S] bool
    box_on: np.ndarray  # [B, K] bool
    cyl_on: np.ndarray  # [B, C] bool


def _first_positive(t: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(t) & (t > EPS), t, np.inf)


Rays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def intersect_spheres(rays: Rays, sph: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Ray-sphere hit distances (near root; rays never start inside a sphere)."""
    ox, oy, oz, dx, dy, dz = rays
    ocx, ocy, ocz = ox - sph[:, :, None, 0], oy - sph[:, :, None, 1], oz - sph[:, :, None, 2]
    r = sph[:, :, None, 3]
    a = dx * dx + dy * dy + dz * dz
    b = dx * ocx + dy * ocy + dz * ocz  # half of the usual b
    disc = b * b - a * (ocx * ocx + ocy * ocy + ocz * ocz - r * r)
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / a
    return np.where((disc >= 0) & on[:, :, None], _first_positive(t), np.inf)


def intersect_boxes(rays: Rays, box: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Ray-box hit distances by the slab method in each box's frame (boxes rotate about the vertical)."""
    ox, oy, oz, dx, dy, dz = rays
    c, s = np.cos(box[:, :, None, 6]), np.sin(box[:, :, None, 6])
    px, pz = ox - box[:, :, None, 0], oz - box[:, :, None, 2]
    local = ((c * px + s * pz, c * dx + s * dz), (oy - box[:, :, None, 1], dy),
             (c * pz - s * px, c * dz - s * dx))
    near = far = None
    with np.errstate(divide="ignore", invalid="ignore"):
        for k, (ol, dl) in enumerate(local):
            h = box[:, :, None, 3 + k]
            inv = 1.0 / dl
            t1, t2 = (-h - ol) * inv, (h - ol) * inv
            lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
            near = lo if near is None else np.maximum(near, lo)
            far = hi if far is None else np.minimum(far, hi)
    return np.where((near <= far) & on[:, :, None], _first_positive(near), np.inf)


def intersect_cylinders(rays: Rays, cyl: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Ray hit distances on vertical capped cylinders standing on the ground (side and top cap)."""
    ox, oy, oz, dx, dy, dz = rays
    bx, bz, r, h = (cyl[:, :, None, k] for k in range(4))
    ox, oz = ox - bx, oz - bz
    a = dx * dx + dz * dz
    b = ox * dx + oz * dz  # half of the usual b
    disc = b * b - a * (ox * ox + oz * oz - r * r)
    with np.errstate(invalid="ignore", divide="ignore"):
        ts = (-b - np.sqrt(disc)) / a
        ys = oy + ts * dy
        side = np.where((disc >= 0) & (ys >= 0) & (ys <= h), _first_positive(ts), np.inf)
        tc = (h - oy) / dy
        cx, cz = ox + tc * dx, oz + tc * dz
        cap = np.where((cx * cx + cz * cz <= r * r) & (oy > h), _first_positive(tc), np.inf)
    return np.where(on[:, :, None], np.minimum(side, cap), np.inf)


def _normals(kind: int, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Outward unit normals ``[B, P, 3]`` at points ``p`` on primitives of parameters ``q`` ``[B, P, W]``."""
    if kind == CLASS_SPHERE:
        return (p - q[..., :3]) / q[..., 3:4]
    if kind == CLASS_BOX:
        c, s = np.cos(q[..., 6]), np.sin(q[..., 6])
        x, y, z = p[..., 0] - q[..., 0], p[..., 1] - q[..., 1], p[..., 2] - q[..., 2]
        local = np.stack([c * x + s * z, y, c * z - s * x], axis=-1)
        axis = np.abs(local / q[..., 3:6]).argmax(-1)
        nl = np.zeros(local.shape)
        np.put_along_axis(nl, axis[..., None], np.sign(np.take_along_axis(local, axis[..., None], -1)), -1)
        return np.stack([c * nl[..., 0] - s * nl[..., 2], nl[..., 1], s * nl[..., 0] + c * nl[..., 2]], -1)
    x, z, r, h = p[..., 0] - q[..., 0], p[..., 2] - q[..., 1], q[..., 2], q[..., 3]
    cap = p[..., 1] >= h - 1e-7 * np.maximum(h, 1.0)
    n = np.stack([x / r, np.zeros_like(x), z / r], -1)
    return np.where(cap[..., None], np.array([0.0, 1.0, 0.0]), n)


_TYPES = (("sphere", intersect_spheres, CLASS_SPHERE), ("box", intersect_boxes, CLASS_BOX),
          ("cyl", intersect_cylinders, CLASS_CYLINDER))


def _objects(scenes: SceneBatch, rays: Rays) -> tuple[np.ndarray, list[int]]:
    """Hit distances on all object slots ``[B, N, P]`` (types in order) and each slot's class."""
    ts, cls = [], []
    for name, fn, k in _TYPES:
        params = getattr(scenes, name)
        if params.shape[1]:
            ts.append(fn(rays, params, getattr(scenes, name + "_on")))
            cls += [k] * params.shape[1]
    b = scenes.cam_pos.shape[0]
    p = max(r.shape[-1] for r in rays)
    return (np.concatenate(ts, 1) if ts else np.full((b, 0, p), np.inf)), cls


def render(scenes: SceneBatch, size: int) -> dict[str, np.ndarray]:
    """Render ``B`` scenes at ``size`` x ``size``.

    Returns ``image`` float64 ``[B, 3, H, W]`` (noise-free, in [0, 1]), ``segmentation`` int64 ``[B, H, W]``
    (0 ground/sky, 1 sphere, 2 box, 3 cylinder), ``depth`` ``[B, H, W]`` (z-depth, 0 on sky), ``normals``
    ``[B, 3, H, W]`` (unit, camera frame, 0 on sky) and ``instance`` int64 ``[B, H, W]`` (-1 sky,
    0 ground, 1.. object slots).
    """
    bsz = scenes.cam_pos.shape[0]
    v, u = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="ij")
    f = scenes.focal[:, None, None]
    dcam = np.stack([(u[None] - size / 2.0) / f, (v[None] - size / 2.0) / f, np.ones((bsz, size, size))], -1)
    d = np.einsum("bij,bpj->bpi", scenes.cam_rot, dcam.reshape(bsz, size * size, 3))  # [B, P, 3]
    o = scenes.cam_pos[:, None, :]  # [B, 1, 3]
    rays = tuple(o[:, None, :, k] for k in range(3)) + tuple(d[:, None, :, k] for k in range(3))

    t_obj, cls = _objects(scenes, rays)
    with np.errstate(divide="ignore", invalid="ignore"):
        tg = np.where(d[..., 1] < 0, -o[..., 1] / d[..., 1], np.inf)
    gp = o + np.where(np.isfinite(tg), tg, 0.0)[..., None] * d
    tg = np.where((np.abs(gp[..., 0]) <= GROUND) & (np.abs(gp[..., 2]) <= GROUND), tg, np.inf)
    t_all = np.concatenate([tg[:, None], t_obj], axis=1)  # slot 0 = ground
    best = t_all.argmin(1)  # [B, P]
    t = np.take_along_axis(t_all, best[:, None], 1)[:, 0]
    hit = np.isfinite(t)
    instance = np.where(hit, best, SKY)
    point = o + np.where(hit, t, 0.0)[..., None] * d
    slot_cls = np.array([0] + cls)
    seg = np.where(hit, slot_cls[best], 0)

    normal = np.zeros(point.shape)
    normal[..., 1] = 1.0
    albedo = np.take_along_axis(scenes.ground, _checker(point, scenes.checker)[..., None].repeat(3, -1), 1)
    first = 1
    for name, _, k in _TYPES:
        params = getattr(scenes, name)
        n_slots = params.shape[1]
        if not n_slots:
            continue
        j = np.clip(best - first, 0, n_slots - 1)[..., None]
        sel = (hit & (seg == k))[..., None]
        normal = np.where(sel, _normals(k, point, np.take_along_axis(params, j, 1)), normal)
        col = np.take_along_axis(getattr(scenes, name + "_color"), j, 1)
        stripe = np.where(col[..., 3] > 0, np.floor(point[..., 1] * col[..., 3]) % 2, 0.0)
        albedo = np.where(sel, col[..., :3] * (1.0 - 0.35 * stripe[..., None]), albedo)
        first += n_slots
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)

    # Lambert shading with hard shadows cast by the objects onto everything
    light = scenes.light[:, None, :]
    lambert = np.clip((normal * light).sum(-1), 0.0, None)
    so = point + 1e-3 * normal
    shadow_rays = tuple(so[:, None, :, k] for k in range(3)) + tuple(light[:, None, :, k] for k in range(3))
    ts, _ = _objects(scenes, shadow_rays)
    lit = ~np.isfinite(ts).any(1)
    amb = scenes.ambient[:, None]
    shade = amb + (1.0 - amb) * lambert * lit
    up = np.clip(d[..., 1] / np.linalg.norm(d, axis=-1) * 2.0 + 0.3, 0.0, 1.0)[..., None]
    sky = scenes.sky[:, 0, None] * (1.0 - up) + scenes.sky[:, 1, None] * up
    image = np.where(hit[..., None], np.clip(albedo * shade[..., None], 0.0, 1.0), sky)

    n_cam = np.einsum("bji,bpj->bpi", scenes.cam_rot, normal) * hit[..., None]
    hw = (bsz, size, size)
    return {
        "image": image.reshape(hw + (3,)).transpose(0, 3, 1, 2),
        "segmentation": seg.reshape(hw),
        "depth": np.where(hit, t, 0.0).reshape(hw),
        "normals": n_cam.reshape(hw + (3,)).transpose(0, 3, 1, 2),
        "instance": instance.reshape(hw),
    }


def _checker(point: np.ndarray, square: np.ndarray) -> np.ndarray:
    s = square[:, None]
    return ((np.floor(point[..., 0] / s) + np.floor(point[..., 2] / s)) % 2).astype(np.int64)


def boundaries(instance: np.ndarray) -> np.ndarray:
    """Edge map ``[B, H, W]`` in {0, 1}: pixels with a 4-neighbour of another instance (both sides)."""
    e = np.zeros(instance.shape, dtype=bool)
    dv = instance[:, 1:, :] != instance[:, :-1, :]
    dh = instance[:, :, 1:] != instance[:, :, :-1]
    e[:, 1:, :] |= dv
    e[:, :-1, :] |= dv
    e[:, :, 1:] |= dh
    e[:, :, :-1] |= dh
    return e.astype(np.uint8)
