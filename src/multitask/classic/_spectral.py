"""Spectral helpers of the clustered / shared-subspace and the alternating MTL models.

Cluster penalty (CMTL, Zhou, Chen, Ye, NeurIPS 2011; cASO, Chen, Tang, Liu, Ye, ICML 2009)
-----------------------------------------------------------------------------------------
For W (d x T), η > 0 and an integer-free k, the relaxed penalty

    g(W) = min_M  tr(W (ηI + M)⁻¹ Wᵀ)   s.t.  tr M = k,  0 ⪯ M ⪯ I,  M of size q x q

(q = T: CMTL, M over tasks; for cASO apply it to Wᵀ, M over features) only depends on the singular
values σ₁..σ_q of W (padded with zeros to q). With M = V diag(m) Vᵀ in W's right singular basis:

    g(W) = min_{0 ≤ m ≤ 1, Σm = k}  Σᵢ σᵢ² / (η + mᵢ),    mᵢ = clip(σᵢ·u − η, 0, 1)

(KKT: σᵢ²/(η+mᵢ)² is the same multiplier 1/u² for every free mᵢ), with u > 0 fixed by ``Σ mᵢ = k``
(bisection, then exact on the free set). g is convex (partial minimisation of the jointly convex
``tr(W(ηI+M)⁻¹Wᵀ)`` over a convex set) and differentiable, with (Danskin)

    ∇g(W) = 2 W (ηI + M*)⁻¹ = 2 U diag(σᵢ / (η + mᵢ)) Vᵀ.

Perturbed square root (MTFL, Argyriou, Evgeniou, Pontil, MLJ 2008; MTRL, Zhang & Yeung, UAI 2010)
---------------------------------------------------------------------------------------------------
    min_{D ≻ 0, tr D = 1} tr(D⁻¹ (A + εI)) = (tr (A + εI)^{1/2})²,   D* = (A + εI)^{1/2} / tr (A + εI)^{1/2}.

Minimised over D (or Ω), the MTFL / MTRL penalty is the spectral function ``h(W) = φ(σ(W))`` with

    φ(x) = (lam1/2) Σᵢ xᵢ² + γ (Σᵢ₌₁..q √(xᵢ² + ε))²

over q singular values (σ(W) padded with q − rank zeros; MTFL q = d, MTRL q = T). φ is convex (a
composition of the convex, non-decreasing u ↦ u² on u ≥ 0 with the convex Σ√(xᵢ² + ε)) and absolutely
symmetric, so h is convex and its prox is ``prox_{th}(V) = U diag(prox_{tφ}(σ)) Vᵀ`` for V = U diag(σ) Vᵀ
(Lewis, The convex analysis of unitarily invariant matrix functions, J. Convex Anal. 1995). For σ ≥ 0 the
prox x = prox_{tφ}(σ) (:func:`perturbed_sq_prox`) solves, with a = 1 + t·lam1 and S = Σᵢ √(xᵢ² + ε) over
all q entries (the q − r structural zeros contribute √ε each),

    a xᵢ + 2tγS · xᵢ / √(xᵢ² + ε) = σᵢ         (i = 1..r).

For fixed S the left side is increasing and concave in xᵢ ≥ 0, so each xᵢ(S) ∈ [0, σᵢ/a] is found by
Newton's method from 0 (monotone from below); xᵢ(S) decreases with S, so ``S − Σᵢ √(xᵢ(S)² + ε) −
(q − r)√ε`` is increasing with one root in [q√ε, Σᵢ √(σᵢ²/a² + ε) + (q − r)√ε], found by bracketed Newton.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "cluster_weights",
    "cluster_penalty",
    "cluster_matrix",
    "normalised_sqrt",
    "normalised_gram_sqrt",
    "perturbed_trace_sq",
    "spectral_conjugate_bound",
    "perturbed_sq_prox",
    "spectral_sq_prox",
]


def cluster_weights(sigma: np.ndarray, eta: float, k: float) -> np.ndarray:
    """The minimiser m of ``Σ σᵢ²/(η + mᵢ)`` over ``{0 ≤ m ≤ 1, Σ m = k}`` (σ ≥ 0, length q ≥ k).

    Entries with σᵢ = 0 do not change the value; they receive the mass the positive entries cannot
    take (each positive entry is capped at 1), spread evenly.
    """
    sigma = np.asarray(sigma, dtype=float)
    q = sigma.size
    if eta <= 0:
        raise ValueError(f"cluster_weights: eta must be > 0, got {eta}")
    if not 0.0 <= k <= q:
        raise ValueError(f"cluster_weights: k must lie in [0, {q}], got {k}")
    scale = float(sigma.max()) if q else 0.0
    pos = sigma > 1e-14 * max(scale, 1e-300)
    n_pos = int(np.count_nonzero(pos))
    m = np.zeros(q)
    if n_pos <= k:
        m[pos] = 1.0
        if q > n_pos:
            m[~pos] = (k - n_pos) / (q - n_pos)
        return m
    s = sigma[pos]
    # m(u) = clip(σu − η, 0, 1) (KKT, u the multiplier of Σm = k); total(u) = Σ m(u) is piecewise linear and
    # non-decreasing with breakpoints η/σᵢ and (1 + η)/σᵢ: evaluate it there, then solve on the crossing piece
    order = np.argsort(-s)  # ascending η/σᵢ and (1 + η)/σᵢ alike
    ss = s[order]
    cum = np.concatenate([[0.0], np.cumsum(ss)])
    start, end = eta / ss, (1.0 + eta) / ss
    bp = np.sort(np.concatenate([start, end]))
    n_in = np.searchsorted(start, bp, side="left")  # σᵢu − η > 0 (ties add 0 either way)
    n_one = np.searchsorted(end, bp, side="right")  # σᵢu − η ≥ 1
    totals = n_one + bp * (cum[n_in] - cum[n_one]) - eta * (n_in - n_one)  # O(q log q), no q x q table
    j = int(np.searchsorted(totals, k))  # totals[j-1] < k <= totals[j]
    j = min(max(j, 1), bp.size - 1)
    lo, hi, t_lo, t_hi = bp[j - 1], bp[j], totals[j - 1], totals[j]
    u = hi if t_hi <= t_lo else lo + (k - t_lo) * (hi - lo) / (t_hi - t_lo)
    mp = np.clip(s * u - eta, 0.0, 1.0)
    m[pos] = mp
    return m


def cluster_penalty(W: np.ndarray, eta: float, k: float, q: int) -> tuple[float, np.ndarray, np.ndarray]:
    """``g(W)`` of the module docstring with M of size q x q acting on W's columns (q = W.shape[1]).

    Returns ``(value, grad, m)``: the value, its gradient (W's shape) and the optimal eigenvalues m
    (length q, in the order of W's singular values, zeros padded last). Uses the thin SVD only.
    """
    if W.shape[1] != q:
        raise ValueError(f"cluster_penalty: W must have {q} columns, got shape {W.shape}")
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    r = s.size
    sigma = np.zeros(q)
    sigma[:r] = s
    m = cluster_weights(sigma, eta, k)
    value = float(np.sum(sigma**2 / (eta + m)))
    grad = 2.0 * (U * (s / (eta + m[:r]))) @ Vt
    return value, grad, m


def cluster_matrix(W: np.ndarray, eta: float, k: float) -> np.ndarray:
    """The optimal ``M* = V diag(m) Vᵀ`` (q x q, q = W.shape[1]) of :func:`cluster_penalty` at W."""
    q = W.shape[1]
    _, s, Vt = np.linalg.svd(W, full_matrices=True)
    sigma = np.zeros(q)
    sigma[: s.size] = s
    m = cluster_weights(sigma, eta, k)
    return (Vt.T * m) @ Vt


def perturbed_trace_sq(sigma: np.ndarray, eps: float, q: int) -> float:
    """``(Σᵢ √(σᵢ² + ε))²`` over q singular values (σ padded with zeros) = ``(tr (A + εI)^{1/2})²``."""
    s2 = np.zeros(q)
    s2[: np.size(sigma)] = np.asarray(sigma, dtype=float) ** 2
    return float(np.sum(np.sqrt(s2 + eps)) ** 2)


def normalised_sqrt(A: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``D = (A + εI)^{1/2} / tr (A + εI)^{1/2}`` for symmetric PSD A; returns ``(D, evals, evecs)``
    with ``D = evecs diag(evals) evecsᵀ`` (evals > 0 when ε > 0)."""
    lam, V = np.linalg.eigh(0.5 * (A + A.T))
    root = np.sqrt(np.maximum(lam, 0.0) + eps)
    total = float(root.sum())
    if total <= 0.0:
        raise ValueError("normalised_sqrt: A + εI is zero; use epsilon > 0")
    ev = root / total
    return (V * ev) @ V.T, ev, V


def normalised_gram_sqrt(W: np.ndarray, eps: float) -> np.ndarray:
    """``(WWᵀ + εI)^{1/2} / tr (WWᵀ + εI)^{1/2}`` (m x m for W m x n, ε > 0) from the thin SVD
    W = U diag(σ) Vᵀ: ``(WWᵀ + εI)^{1/2} = U diag(√(σ² + ε) − √ε) Uᵀ + √ε I``, with trace
    ``Σ √(σᵢ² + ε) + (m − r)√ε`` — the same matrix as :func:`normalised_sqrt` of WWᵀ, in
    O(m n min(m, n) + m² r) instead of an m x m eigendecomposition."""
    if eps <= 0:
        raise ValueError(f"normalised_gram_sqrt: eps must be > 0, got {eps}")
    m = W.shape[0]
    U, s, _ = np.linalg.svd(W, full_matrices=False)
    root_eps = float(np.sqrt(eps))
    root = np.sqrt(s * s + eps)
    total = float(root.sum()) + (m - s.size) * root_eps
    D = (U * (s * s / (root + root_eps))) @ U.T  # √(σ² + ε) − √ε without cancellation
    D[np.diag_indices(m)] += root_eps
    return D / total


def _padded(sigma: np.ndarray, q: int) -> np.ndarray:
    out = np.zeros(q)
    out[: min(q, np.size(sigma))] = np.sort(np.abs(np.asarray(sigma, dtype=float)))[::-1][:q]
    return out


def _bisect(fn, lo: np.ndarray | float, hi: np.ndarray | float, n: int = 100):  # noqa: ANN001, ANN202
    """The root of the increasing ``fn`` in [lo, hi] (vectorised); returns the bracket end hi (fn ≥ 0)."""
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    for _ in range(n):
        mid = 0.5 * (lo + hi)
        pos = fn(mid) >= 0
        hi, lo = np.where(pos, mid, hi), np.where(pos, lo, mid)
    return hi


def spectral_conjugate_bound(
    v: np.ndarray, s: np.ndarray, gamma: float, eps: float, q: int, lam1: float = 0.0
) -> float:
    """An upper bound of ``φ*(v) = sup_x ⟨x, v⟩ − φ(x)`` for ``φ(x) = (lam1/2)Σxᵢ² + γ(Σᵢ √(xᵢ² + ε))²`` over
    q entries (v, s padded with zeros), exact at the solution: φ* of the singular values is the conjugate
    of the spectral function ``h(W) = φ(σ(W))`` (Lewis, The convex analysis of unitarily invariant matrix
    functions, J. Convex Anal. 1995), the MTFL / MTRL penalty minimised over D or Ω.

    Writing ``γu² = min_λ γ(2λu − λ²)`` and exchanging sup and min (Sion), for every λ ≥ 0 and every
    split ``v = a + w`` with ``|wᵢ| ≤ c = 2γλ``:

        φ*(v) ≤ γλ² + Σᵢ [ aᵢ²/(2 lam1) − √ε √(c² − wᵢ²) ]

    (the conjugates of (lam1/2)x² and of c√(x² + ε)); with lam1 = 0, a = 0 and w = v, λ ≥ max|v|/(2γ).
    Any such (λ, w) gives a valid bound, so the certificate stays an upper bound whatever the accuracy of
    the choices below: lam1 = 0: λ minimising the bound (bisection on its convex derivative); lam1 > 0:
    λ = Σᵢ √(sᵢ² + ε) for s the singular values of the current W (the minimiser at the solution), each wᵢ
    minimising its term (bisection). ``s`` is only used when lam1 > 0.
    """
    v = _padded(v, q)
    root_eps = float(np.sqrt(eps))
    if lam1 <= 0.0:
        lam_min = float(v.max(initial=0.0)) / (2.0 * gamma)

        def slope(lam: float) -> float:
            c2 = 4.0 * gamma**2 * lam * lam
            inner = np.sqrt(np.maximum(c2 - v * v, 1e-300))
            return 2.0 * gamma * lam - root_eps * float(np.sum(4.0 * gamma**2 * lam / inner))

        hi = max(2.0 * lam_min, q * root_eps, 1e-300)
        while slope(hi) < 0:
            hi *= 2.0
        lam = float(_bisect(slope, lam_min, hi, n=80))
        c2 = 4.0 * gamma**2 * lam * lam
        return float(gamma * lam * lam - root_eps * np.sum(np.sqrt(np.maximum(c2 - v * v, 0.0))))
    s = _padded(s, q)
    lam = float(np.sum(np.sqrt(s * s + eps)))
    c = 2.0 * gamma * lam
    if c <= 0.0 or root_eps == 0.0:
        w = np.clip(v, -c, c)
    else:  # each wᵢ ∈ [0, min(vᵢ, c)) minimises (vᵢ − w)²/(2 lam1) − √ε √(c² − w²): increasing derivative
        top = np.minimum(v, c * (1.0 - 1e-15))
        w = _bisect(lambda x: -(v - x) / lam1 + root_eps * x / np.sqrt(np.maximum(c * c - x * x, 1e-300)),
                    np.zeros_like(v), top)
        w = np.minimum(w, top)
    return float(gamma * lam * lam + np.sum((v - w) ** 2) / (2.0 * lam1)
                 - root_eps * np.sum(np.sqrt(np.maximum(c * c - w * w, 0.0))))


def _perturbed_newton(s: np.ndarray, a: float, c: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The root x ∈ [0, s/a] of ``g(x) = a x + c x/√(x² + ε) − s`` for every entry (s ≥ 0, a > 0, c ≥ 0)
    and ``g'(x)``: g is increasing and concave on x ≥ 0, so Newton's iterates from x = 0 increase
    monotonically to the root."""
    x = np.zeros_like(s)
    top = s / a
    for _ in range(200):
        r = np.sqrt(x * x + eps)
        slope = a + c * eps / (r * r * r)
        x_new = np.clip(x - (a * x + c * x / r - s) / slope, x, top)
        done = np.all(x_new - x <= 4.0 * np.finfo(float).eps * x_new)
        x = x_new
        if done:
            break
    r = np.sqrt(x * x + eps)
    return x, a + c * eps / (r * r * r)


def perturbed_sq_prox(
    sigma: np.ndarray, t: float, gamma: float, eps: float, q: int, lam1: float = 0.0
) -> np.ndarray:
    """``prox_{tφ}(σ) = argmin_x t·φ(x) + ½‖x − σ‖²`` for σ ≥ 0 (length r ≤ q; the other q − r entries of
    φ's argument are the fixed zeros of the padding), φ of the module docstring: an outer bracketed Newton
    solve on S = Σ √(xᵢ² + ε) around the per-entry Newton solve of the optimality condition there."""
    sigma = np.asarray(sigma, dtype=float)
    r = sigma.size
    if r > q:
        raise ValueError(f"perturbed_sq_prox: {r} singular values for a penalty over q = {q}")
    if np.any(sigma < 0) or eps <= 0 or t < 0 or gamma < 0 or lam1 < 0:
        raise ValueError("perturbed_sq_prox: needs σ ≥ 0, ε > 0 and t, gamma, lam1 ≥ 0")
    a = 1.0 + t * lam1
    if t * gamma == 0.0 or r == 0:
        return sigma / a
    root_eps = float(np.sqrt(eps))
    pad = (q - r) * root_eps

    def excess(S: float) -> tuple[float, float, np.ndarray]:
        """F(S) = S − Σ√(xᵢ(S)² + ε) − (q − r)√ε, F'(S) = 1 + Σ 2tγ xᵢ² / ((xᵢ² + ε) g'(xᵢ)), x(S)."""
        x, slope = _perturbed_newton(sigma, a, 2.0 * t * gamma * S, eps)
        x2 = x * x
        F = S - float(np.sum(np.sqrt(x2 + eps))) - pad
        return F, 1.0 + float(np.sum(2.0 * t * gamma * x2 / ((x2 + eps) * slope))), x

    lo = q * root_eps  # F(lo) ≤ 0
    hi = float(np.sum(np.sqrt((sigma / a) ** 2 + eps))) + pad  # F(hi) ≥ 0
    S = hi
    for _ in range(200):
        F, dF, x = excess(S)
        if F == 0.0:
            break
        if F > 0:
            hi = S
        else:
            lo = S
        S_new = S - F / dF
        if not lo < S_new < hi:
            S_new = 0.5 * (lo + hi)
        if abs(S_new - S) <= 4.0 * np.finfo(float).eps * S or hi - lo <= 4.0 * np.finfo(float).eps * hi:
            S = S_new
            break
        S = S_new
    return excess(S)[2]


def spectral_sq_prox(
    V: np.ndarray, t: float, gamma: float, eps: float, q: int, lam1: float = 0.0
) -> np.ndarray:
    """``prox_{th}(V) = U diag(prox_{tφ}(σ)) Vᵀ`` (module docstring; Lewis 1995) for V = U diag(σ) Vᵀ, h the
    MTFL (lam1 = 0, q = d) / MTRL (q = T) penalty minimised over D / Ω."""
    U, s, Vt = np.linalg.svd(V, full_matrices=False)
    return (U * perturbed_sq_prox(s, t, gamma, eps, q, lam1)) @ Vt
