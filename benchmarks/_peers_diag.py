"""Diagnostics of ``benchmarks/peers.py`` (its ``--count-syncs``, ``--mgda-check`` and ``--profile`` modes):
host synchronisations per step, MGDA's distance to the min-norm point per implementation, a
``torch.profiler`` table of one runner. Loaded by ``peers.py`` after ``_peers_impl``."""

from __future__ import annotations

import sys

import torch

_impl = sys.modules["_peers_impl"]
SPECS, make_runner = _impl.SPECS, _impl.make_runner


_SYNC_METHODS = ("__bool__", "__float__", "__int__", "__index__", "item", "tolist")


def count_host_syncs(
    key: str, mode: str, tasks: int, impl: str = "ours", device: torch.device | None = None
) -> int:
    """Host synchronisations in one step of a runner, after one warm-up step.

    On CUDA: the synchronising calls CUDA reports (``torch.cuda.set_sync_debug_mode("warn")``). On the CPU:
    tensor-to-Python conversions (``bool(t)``, ``float(t)``, ``int(t)``, ``.item()``, ``.tolist()``), each a
    synchronisation when the tensor is on a GPU — an upper bound: conversions of tensors that stay on the
    host count too, e.g. every one inside our Gramian methods' solvers, which run on a host copy of the
    Gramian (``multitask.core.gramian.to_host``); ``tests/test_backward_syncs.py`` tells them apart.
    """
    device = device or torch.device("cpu")
    spec = next(s for s in SPECS if s.key == key)
    runner = make_runner(impl, spec, mode, tasks, device)
    if runner is None:
        raise SystemExit(f"{impl} has no {key} in {mode} mode")
    runner.step()
    if device.type == "cuda":
        import warnings

        torch.cuda.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                runner.step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)
    count = [0]
    originals = {name: getattr(torch.Tensor, name) for name in _SYNC_METHODS}

    def counting(original):
        def wrapper(self, *args, **kwargs):
            count[0] += 1
            return original(self, *args, **kwargs)

        return wrapper

    try:
        for name, original in originals.items():
            setattr(torch.Tensor, name, counting(original))
        runner.step()
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
    return count[0]


def mgda_optimality(tasks: int, peers: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """MGDA's min-norm point from each implementation on the model's parameters-mode Jacobian at ``tasks``:
    ``{impl: (‖d‖², min_t g_tᵀd / ‖d‖²)}`` with ``d = Jᵀw / Σw``; the second is ≥ 1 exactly at the optimum."""
    enc, heads, x, ys = _impl.build_model(tasks, torch.device("cpu"))
    z = enc(x)
    shared = list(enc.parameters())
    rows = []
    for h, y in zip(heads, ys):
        grads = torch.autograd.grad(torch.nn.functional.cross_entropy(h(z), y), shared, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    jac = torch.stack(rows)
    gram = (jac @ jac.T).double()
    found = {"ours": _impl.build_method("mgda", {}, tasks).weights(gram)}
    if "torchjd" in peers:
        from torchjd.aggregation import MGDAWeighting

        found["torchjd"] = MGDAWeighting()(gram.float())
    if "libmtl" in peers:
        found["libmtl"] = _impl.load_libmtl("MGDA")()._find_min_norm_element(jac.detach())
    out = {}
    for impl, w in found.items():
        w = w.detach().double() / w.detach().double().sum()
        d2 = float(w @ gram @ w)
        out[impl] = (d2, float((gram @ w).min()) / d2)
    return out


def profile_table(key: str, mode: str, tasks: int, impl: str, device: torch.device, steps: int = 3) -> str:
    """``torch.profiler`` table (self time, top 12 ops) of ``steps`` steps of one runner after 3 warm-ups."""
    from torch.profiler import ProfilerActivity, profile

    spec = next(s for s in SPECS if s.key == key)
    runner = make_runner(impl, spec, mode, tasks, device)
    if runner is None:
        raise SystemExit(f"{impl} has no {key} in {mode} mode")
    for _ in range(3):
        runner.step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            runner.step()
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=12, max_name_column_width=40)
