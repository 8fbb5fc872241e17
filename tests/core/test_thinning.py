"""``multitask.core.thinning.thin`` against a direct whole-image transcription of Lam, Lee & Suen's rules."""

import numpy as np

from multitask.core.thinning import thin

_OFFSETS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))  # x1..x8


def _reference(mask: np.ndarray) -> np.ndarray:
    """Every pixel tested at every sub-iteration (no border tracking, no look-up tables)."""
    img = np.pad(np.asarray(mask, dtype=bool), 1)
    h, w = img.shape[0] - 2, img.shape[1] - 2
    changed = True
    while changed:
        changed = False
        for first in (True, False):
            x = [img[1 + di : 1 + di + h, 1 + dj : 1 + dj + w] for di, dj in _OFFSETS]
            x.append(x[0])  # x9 = x1
            g1 = sum((~x[2 * i]) & (x[2 * i + 1] | x[2 * i + 2]) for i in range(4)) == 1
            n1 = sum(x[2 * k] | x[2 * k + 1] for k in range(4))
            n2 = sum(x[2 * k + 1] | x[2 * k + 2] for k in range(4))
            m = np.minimum(n1, n2)
            g2 = (m >= 2) & (m <= 3)
            g3 = ~((x[1] | x[2] | ~x[7]) & x[0]) if first else ~((x[5] | x[6] | ~x[3]) & x[4])
            remove = img[1:-1, 1:-1] & g1 & g2 & g3
            if remove.any():
                img[1:-1, 1:-1] &= ~remove
                changed = True
    return img[1:-1, 1:-1].copy()


def test_thin_equals_the_rules_applied_to_every_pixel() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        m = rng.random((23, 31)) < rng.uniform(0.2, 0.8)
        assert np.array_equal(thin(m), _reference(m))
    block = np.zeros((9, 9), bool)
    block[2:7, 1:8] = True
    assert np.array_equal(thin(block), _reference(block)) and thin(block).sum() < block.sum()


def test_a_stack_is_thinned_map_by_map() -> None:
    rng = np.random.default_rng(1)
    maps = rng.random((3, 12, 14)) < 0.5
    assert np.array_equal(thin(maps), np.stack([_reference(m) for m in maps]))
