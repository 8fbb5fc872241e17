"""The dense suite's data: ``shapes`` scenes with depth in units of the mean scene depth.

The ``shapes`` depth targets are z-depths in scene units (valid pixels: mean ≈ 7.6, range ≈ 2.3 to 19).
A depth head starts near 0 and, with the L1 loss and Adam, its output moves by about the learning rate
per step, so a short CPU budget ends far below the targets: single-task δ1 (share of pixels within a
factor 1.25, Eigen et al., NeurIPS 2014) stayed ≈ 0.008, and Δm over it was meaningless. Dividing the
targets by a fixed scale puts them at ≈ 1, where the head starts within reach. δ1 and the relative error
are scale-free; ``abs_err`` and ``rmse`` are then in units of ``depth_scale``.

The scale is one constant for every split (a statistic of each split would give val and test other
units): :data:`DEPTH_SCALE` is the mean valid depth of the 400 training scenes of the dense suite
(``size=32``, ``seed=0``), 7.56; ``tests/bench/test_dense.py`` recomputes it.
"""

from __future__ import annotations

import math
from typing import Any

from multitask.data.shapes import Shapes

#: mean valid depth of ``Shapes("train", size=32, n=400, seed=0)`` (scene units)
DEPTH_SCALE = 7.56


class ShapesUnitDepth(Shapes):
    """``shapes`` (:class:`multitask.data.shapes.Shapes`) with the depth targets divided by
    ``depth_scale`` (0 stays 0, the invalid sky). Other tasks and the images are unchanged.

    Args:
        split, root: as for ``shapes``.
        depth_scale: the divisor, > 0 (default :data:`DEPTH_SCALE`).
        **kwargs: ``shapes``' other arguments (``size``, ``n``, ``seed``, ...).
    """

    def __init__(
        self, split: str = "train", root: str | None = None, depth_scale: float = DEPTH_SCALE, **kwargs: Any
    ) -> None:
        if isinstance(depth_scale, bool) or not isinstance(depth_scale, (int, float)):
            raise TypeError(f"shapes depth_scale must be a number, got {depth_scale!r}")
        if not (math.isfinite(depth_scale) and depth_scale > 0):
            raise ValueError(f"shapes depth_scale must be a finite number > 0, got {depth_scale!r}")
        super().__init__(split, root, **kwargs)
        self.depth_scale = float(depth_scale)
        self.data["depth"] = self.data["depth"] / self.depth_scale
