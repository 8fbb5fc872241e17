"""Synthetic multi-task regression with planted structure, with the ground truth returned.

The structures the classical estimators of :mod:`multitask.classic` assume ("Synthetic Data" of the
MTL literature, e.g. Argyriou et al. 2008, Jalali et al. 2010, Chen et al. 2011, Zhou et al. 2011, Gong
et al. 2012): every task ``t`` is ``y = x·w_t + b_t + ε`` with ``x ~ N(0, I_d)``, ``ε ~ N(0, noise²)``
and ``W = [w_1 .. w_T]`` drawn with one of these structures:

==================  ======================================================  ==========================
structure           W (T x d, one row per task)                             estimator that models it
==================  ======================================================  ==========================
``sparse``          only ``n_support`` feature columns non-zero, shared     L21 (joint feature sel.)
``low_rank``        ``W = A B``, ``A`` T x r, ``B`` r x d Gaussian           Trace (nuclear norm)
``dirty``           shared support + ``n_private`` own features per task     Dirty (ℓ1,∞ + ℓ1)
``clusters``        ``n_clusters`` Gaussian centres; each task = its centre   CMTL (clustered MTL)
                    + ``spread`` · N(0, I)
``graph``           a chain: ``w_{t+1} = w_t + step · N(0, I)``               SRMTL (graph Laplacian)
``outlier_tasks``   low-rank rows on a shared support + ``n_outliers`` tasks  RMTL, rMTFL
                    with a dense extra part (``W = P + Q``, ``‖Q_t‖² ≈ s``)
==================  ======================================================  ==========================

Returned arrays use the layout of :func:`multitask.data.tabular.load_school`: ``X_train`` ``[T n_train,
d]``, ``y_train``, ``task_train`` (task id per row), the same for ``test``, plus the truth ``W`` (T x d,
the layout of the estimators' ``coef_``), ``b`` (T) and per structure: ``support`` (bool d), ``rank``,
``clusters`` (int T), ``graph`` (T x T adjacency), ``outliers`` (bool T), ``P``/``Q`` (the two parts).
:func:`recovery` scores an estimate of ``W`` against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STRUCTURES = ("sparse", "low_rank", "dirty", "clusters", "graph", "outlier_tasks")


def make_structured_regression(structure: str, n_tasks: int = 10, n_features: int = 40, n_train: int = 20,
                               n_test: int = 200, noise: float = 0.5, seed: int = 0,
                               **params: Any) -> dict[str, Any]:
    """Draw one data set with a planted ``structure`` (see the module docstring).

    ``params`` (defaults in brackets): ``n_support`` [5] (sparse, dirty, outlier_tasks), ``rank`` [2]
    (low_rank, outlier_tasks), ``n_private`` [2] (dirty), ``n_clusters`` [3] and ``spread`` [0.1]
    (clusters), ``step`` [0.2] (graph), ``n_outliers`` [2] (outlier_tasks).
    """
    if structure not in STRUCTURES:
        raise ValueError(f"unknown structure {structure!r}; expected one of {STRUCTURES}")
    for label, v in (("n_tasks", n_tasks), ("n_features", n_features), ("n_train", n_train),
                     ("n_test", n_test)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{label} must be a positive int, got {v!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    known = {"n_support", "rank", "n_private", "n_clusters", "spread", "step", "n_outliers"}
    if set(params) - known:
        raise TypeError(f"unknown parameter(s) {sorted(set(params) - known)}; known: {sorted(known)}")
    rng = np.random.default_rng(seed)
    T, d = int(n_tasks), int(n_features)
    truth: dict[str, Any] = {}
    s = int(params.get("n_support", 5))
    r = int(params.get("rank", 2))
    if structure in ("sparse", "dirty", "outlier_tasks") and not 1 <= s <= d:
        raise ValueError(f"n_support must be in 1..{d}, got {s}")
    if structure in ("low_rank", "outlier_tasks") and not 1 <= r <= min(T, d):
        raise ValueError(f"rank must be in 1..{min(T, d)}, got {r}")
    if structure == "sparse":
        support = np.zeros(d, bool)
        support[rng.choice(d, s, replace=False)] = True
        W = np.zeros((T, d))
        W[:, support] = rng.normal(size=(T, s))
        truth["support"] = support
    elif structure == "low_rank":
        W = rng.normal(size=(T, r)) @ rng.normal(size=(r, d)) / np.sqrt(r)
        truth["rank"] = r
    elif structure == "dirty":
        k = int(params.get("n_private", 2))
        support = np.zeros(d, bool)
        support[rng.choice(d, s, replace=False)] = True
        P = np.zeros((T, d))
        P[:, support] = rng.normal(size=(T, s))
        Q = np.zeros((T, d))
        k = min(k, d - s)
        for t in range(T):
            Q[t, rng.choice(np.flatnonzero(~support), k, replace=False)] = rng.normal(size=k)
        W = P + Q
        truth.update(support=support, P=P, Q=Q)
    elif structure == "clusters":
        k = int(params.get("n_clusters", 3))
        if not 1 <= k <= T:
            raise ValueError(f"n_clusters must be in 1..{T}, got {k}")
        labels = np.arange(T) % k
        rng.shuffle(labels)
        centres = rng.normal(size=(k, d))
        W = centres[labels] + float(params.get("spread", 0.1)) * rng.normal(size=(T, d))
        truth["clusters"] = labels
    elif structure == "graph":
        steps = float(params.get("step", 0.2)) * rng.normal(size=(T, d))
        steps[0] = rng.normal(size=d)
        W = np.cumsum(steps, axis=0)
        A = np.zeros((T, T))
        A[np.arange(T - 1), np.arange(1, T)] = A[np.arange(1, T), np.arange(T - 1)] = 1.0
        truth["graph"] = A
    else:  # outlier_tasks
        o = int(params.get("n_outliers", 2))
        if not 0 <= o < T:
            raise ValueError(f"n_outliers must be in 0..{T - 1}, got {o}")
        support = np.zeros(d, bool)
        support[rng.choice(d, s, replace=False)] = True
        P = np.zeros((T, d))
        P[:, support] = rng.normal(size=(T, r)) @ rng.normal(size=(r, s)) / np.sqrt(r)
        outliers = np.zeros(T, bool)
        outliers[rng.choice(T, o, replace=False)] = True
        Q = np.zeros((T, d))
        Q[outliers] = rng.normal(size=(o, d)) * np.sqrt(s / d)  # as much energy as a regular task
        W = P + Q
        truth.update(support=support, rank=r, outliers=outliers, P=P, Q=Q)
    b = rng.normal(size=T)
    out: dict[str, Any] = {"W": W, "b": b, "structure": structure, **truth}
    for name, n in (("train", int(n_train)), ("test", int(n_test))):
        X = rng.normal(size=(T * n, d))
        task = np.repeat(np.arange(T), n)
        y = np.einsum("nd,nd->n", X, W[task]) + b[task] + noise * rng.normal(size=T * n)
        out[f"X_{name}"], out[f"y_{name}"], out[f"task_{name}"] = X, y, task.astype(np.int64)
    return out


def relative_error(coef: np.ndarray, W: np.ndarray) -> float:
    """``‖Ŵ − W‖_F / ‖W‖_F``."""
    return float(np.linalg.norm(coef - W) / np.linalg.norm(W))


def recovery(data: dict[str, Any], coef: np.ndarray) -> dict[str, float]:
    """Scores of ``coef`` (T x d) against the planted structure of ``data``.

    Always ``rel_error`` (:func:`relative_error`); and per structure: ``support_precision`` (sparse,
    dirty, outlier_tasks: the share of true support among the ``n_support`` features of largest row norm
    ``‖Ŵ_{:,j}‖``), ``rank_energy`` (low_rank, outlier_tasks: the share of ``‖Ŵ‖²_F`` in the top-``rank``
    singular values, 1 = exactly that rank), ``cluster_ari`` (clusters: adjusted Rand index of
    k-means on the rows of ``Ŵ``, 10 restarts, seed 0), ``graph_roughness`` (graph: ``Σ_edges
    ‖ŵ_s − ŵ_t‖² / Σ_edges ‖w_s − w_t‖²``; 1 = as smooth as the truth), ``rel_error_regular``
    (outlier_tasks: the relative error on the regular tasks only).
    """
    W = np.asarray(data["W"])
    coef = np.asarray(coef, dtype=np.float64)
    if coef.shape != W.shape:
        raise ValueError(f"coef has shape {coef.shape}; the truth W has {W.shape}")
    out = {"rel_error": relative_error(coef, W)}
    if "support" in data:
        s = int(data["support"].sum())
        top = np.argsort(-np.linalg.norm(coef, axis=0))[:s]
        out["support_precision"] = float(data["support"][top].mean())
    if "rank" in data:
        sv = np.linalg.svd(coef, compute_uv=False) ** 2
        out["rank_energy"] = float(sv[: data["rank"]].sum() / sv.sum())
    if "clusters" in data:
        from sklearn.cluster import KMeans
        from sklearn.metrics import adjusted_rand_score

        k = int(data["clusters"].max()) + 1
        guess = KMeans(k, n_init=10, random_state=0).fit_predict(coef)
        out["cluster_ari"] = float(adjusted_rand_score(data["clusters"], guess))
    if "graph" in data:
        s_, t_ = np.nonzero(np.triu(data["graph"]))
        out["graph_roughness"] = float(((coef[s_] - coef[t_]) ** 2).sum() / ((W[s_] - W[t_]) ** 2).sum())
    if "outliers" in data:
        keep = ~data["outliers"]
        out["rel_error_regular"] = relative_error(coef[keep], W[keep])
    return out
