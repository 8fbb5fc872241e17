"""Run the grid's jobs as Ray tasks (Moritz et al., "Ray: A Distributed Framework for Emerging AI
Applications", OSDI 2018), with the contract of :func:`multitask.bench._pool.execute`.

Each job is one task, ``fn(job)`` in a Ray worker with ``num_cpus`` / ``num_gpus`` from ``resources(job)``
and that many torch threads (at least 1). The first stage (the baselines) is submitted first, a job's
followers as soon as it finished; a job for which ``done(job)`` holds (its ``result.json`` exists)
runs in this process (it only reads its result), so a finished grid starts no task.

A task whose worker dies (killed, out of memory, a node lost) is retried by Ray up to ``retries`` times
(``max_retries``; a run resumes from its checkpoint), then it is a failure record (``failure``). Nothing
waits forever: a job that needs more CPUs or GPUs than the cluster has is a failure record at once, and
a queued job is cancelled and recorded failed when the cluster shrinks below its needs. With ``timeout_s``
a task still running ``timeout_s`` seconds after it started (its start is reported through a
``ray.util.queue.Queue``, so time spent queued does not count) is cancelled with its worker (it may hang
in C code, where no Python signal reaches it) and recorded failed; its run directory keeps its last
checkpoint, so the next ``multitask bench`` resumes it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from multitask.bench._pool import Finisher

_POLL_S = 5.0
Result = tuple[dict[str, Any], str]


def check_resources(resources: Any) -> None:
    """A grid's ``resources`` section: ``{"cpus": > 0, "gpus": >= 0}``, both optional."""
    if resources is None:
        return
    if not isinstance(resources, dict):
        raise ValueError(f"resources must be a mapping {{cpus: ..., gpus: ...}}, got {resources!r}")
    for key, value in resources.items():
        if key not in ("cpus", "gpus"):
            raise ValueError(f"resources.{key}: unknown key; expected 'cpus' and/or 'gpus'")
        low_ok = isinstance(value, (int, float)) and (value > 0 if key == "cpus" else value >= 0)
        if isinstance(value, bool) or not low_ok:
            bound = "> 0" if key == "cpus" else ">= 0"
            raise ValueError(f"resources.{key} must be a number {bound}, got {value!r}")


def run_resources(spec: Any, threads_per_job: int | None) -> tuple[float, float]:
    """(CPUs, GPUs) of one grid run (a ``RunSpec``): its ``resources``, else ``threads_per_job`` CPUs
    and 1 GPU for a ``cuda*`` device; with no GPU reserved, ``device: auto`` becomes ``cpu``."""
    train = spec.config["train"]
    device = str(train.get("device", "auto"))
    cpus = float(spec.resources.get("cpus", threads_per_job or 1))
    gpus = float(spec.resources.get("gpus", 1 if device.startswith("cuda") else 0))
    if gpus == 0 and device == "auto":
        train["device"] = "cpu"
    return cpus, gpus


def _cell(fn: Callable[[Any], Result], job: Any, threads: int, started: Any = None) -> Result:
    import torch

    if started is not None:  # the driver's clock for timeout_s starts now (a retry restarts it)
        started.put((job.name, time.time()))
    torch.set_num_threads(threads)
    return fn(job)


def require_ray() -> Any:
    """The ``ray`` module, or a ``ValueError`` saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ValueError(
            "running a grid on Ray needs the optional dependency 'ray': pip install 'multitask[ray]'"
        ) from err
    return ray


def execute_ray(
    first: list[Any],
    followers: Callable[[Any, dict[str, Any]], list[Any]],
    fn: Callable[[Any], tuple[dict[str, Any], str]],
    *,
    address: str | None,
    resources: Callable[[Any], tuple[float, float]],
    done: Callable[[Any], bool],
    retries: int,
    log: Callable[[str], Any],
    failure: Callable[[Any, str], dict[str, Any]],
    timeout_s: float | None = None,
) -> list[tuple[Any, dict[str, Any]]]:
    """Run every job as a Ray task; returns ``(job, record)`` pairs in the order the jobs finished.

    ``address`` goes to ``ray.init`` when this process is not connected to Ray yet (None: a new local
    instance), and that connection is closed at the end; an existing connection is used as it is and
    left open. ``resources(job)``: its (CPUs, GPUs). ``timeout_s``: the longest a task may run (module
    docstring); None: no limit."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"ray retries must be an int >= 0, got {retries!r}")
    check_timeout(timeout_s)
    ray = require_ray()
    own = not ray.is_initialized()
    if own:
        if address is None:  # a new local instance: no usage report leaves the machine unless asked for
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        return _run(ray, first, followers, fn, resources, done, retries, log, failure, timeout_s)
    finally:
        if own:
            ray.shutdown()


def check_timeout(timeout_s: Any) -> None:
    """``timeout_s``: None or a number of seconds > 0."""
    if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float))
                                  or not timeout_s > 0):  # fmt: skip
        raise ValueError(f"ray timeout must be a number of seconds > 0, got {timeout_s!r}")


def _run(ray, first, followers, fn, resources, done, retries, log, failure, timeout_s) -> list[tuple[Any, Any]]:  # noqa: E501
    remote = ray.remote(_cell)
    started_queue = None
    if timeout_s is not None:
        from ray.util.queue import Queue

        started_queue = Queue(actor_options={"num_cpus": 0})
    started: dict[str, float] = {}  # job name -> when its task (last) started
    pending: dict[Any, tuple[Any, tuple[float, float]]] = {}  # ObjectRef -> (job, (cpus, gpus))
    shrunk: dict[Any, str] = {}

    def lacking(need: tuple[float, float]) -> str | None:
        have = ray.cluster_resources()
        for amount, key, what in ((need[0], "CPU", "CPUs"), (need[1], "GPU", "GPUs")):
            if amount > have.get(key, 0.0) + 1e-9:
                return f"needs {amount:g} {what}, the Ray cluster has {have.get(key, 0.0):g}"
        return None

    def submit(job: Any) -> None:
        if done(job):
            finish(job, fn(job))
            return
        need = resources(job)
        problem = lacking(need)
        if problem is not None:
            finish(job, None, f"not started: {problem}")
            return
        ref = remote.options(
            num_cpus=need[0], num_gpus=need[1], max_retries=retries, retry_exceptions=False, name=job.name
        ).remote(fn, job, max(1, int(need[0])), started_queue)
        pending[ref] = (job, need)

    finish = Finisher(first, followers, log, failure, submit)
    for job in first:
        submit(job)
    while pending:
        ready, waiting = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
        if started_queue is not None:
            _expire(ray, started_queue, started, pending, shrunk, waiting, timeout_s)
        for ref in ready:
            job, _ = pending.pop(ref)
            try:
                result, message = ray.get(ref), ""
            except Exception as err:  # the worker died more than `retries` times, or the task was cancelled
                result = None
                first_line = (str(err).strip().splitlines() or [""])[0][:300]
                message = shrunk.pop(ref, None) or (
                    f"Ray task failed (retried up to {retries} times): {type(err).__name__}: {first_line}"
                )
            finish(job, result, message)
        if not ready:  # nothing finished for a while: is every queued job still feasible?
            for ref in waiting:
                problem = lacking(pending[ref][1]) if ref in pending and ref not in shrunk else None
                if problem is not None:
                    shrunk[ref] = f"cancelled: {problem}"
                    ray.cancel(ref, force=True)
    return finish.out


def _expire(ray, queue, started, pending, shrunk, waiting, timeout_s) -> None:
    """Cancel (with its worker) every waiting task that started more than ``timeout_s`` seconds ago."""
    while not queue.empty():
        name, when = queue.get_nowait()
        started[name] = when
    now = time.time()
    for ref in waiting:
        job = pending[ref][0] if ref in pending else None
        if job is None or ref in shrunk or job.name not in started or now - started[job.name] <= timeout_s:
            continue
        shrunk[ref] = (
            f"timed out: still running {timeout_s:g} s after it started (cancelled with its worker); "
            "running the grid again resumes it from its last checkpoint"
        )
        ray.cancel(ref, force=True)
