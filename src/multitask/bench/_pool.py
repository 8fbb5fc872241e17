"""Run a two-stage list of independent jobs, in this process or in a pool of local worker processes.

The first stage (the grid's single-task baselines) is queued first; when one of its jobs finishes,
``followers(job, record)`` gives the jobs that waited for it (that seed's other runs), which are queued
at once. ``fn(job)`` returns ``(record, log line)`` and must catch its own errors; a worker that dies
(killed, out of memory) turns into a failure record for its job via ``failure(job, message)``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is not None:
        torch.set_num_threads(threads)


def execute(
    first: list[Any],
    followers: Callable[[Any, dict[str, Any]], list[Any]],
    fn: Callable[[Any], tuple[dict[str, Any], str]],
    *,
    jobs: int,
    threads: int | None,
    log: Callable[[str], Any],
    failure: Callable[[Any, str], dict[str, Any]],
) -> list[tuple[Any, dict[str, Any]]]:
    """Run every job; returns ``(job, record)`` pairs in the order the jobs finished."""
    if jobs == 1:
        return _serial(first, followers, fn, threads, log)
    return _parallel(first, followers, fn, jobs, threads, log, failure)


class Finisher:
    """What every executor does when a job ends: turn a missing result into ``failure(job, message)``,
    log the line, keep ``(job, record)`` in ``out`` (finishing order) and, for a first-stage job, hand
    its ``followers`` to ``submit``."""

    def __init__(
        self,
        first: list[Any],
        followers: Callable[[Any, dict[str, Any]], list[Any]],
        log: Callable[[str], Any],
        failure: Callable[[Any, str], dict[str, Any]],
        submit: Callable[[Any], None],
    ) -> None:
        self.out: list[tuple[Any, dict[str, Any]]] = []
        self._first_ids = {id(job) for job in first}
        self._followers, self._log, self._failure, self._submit = followers, log, failure, submit

    def __call__(self, job: Any, result: tuple[dict[str, Any], str] | None, message: str = "") -> None:
        if result is None:
            result = self._failure(job, message), f"[fail] {job.name}: {message}"
        record, line = result
        self._log(line)
        self.out.append((job, record))
        if id(job) in self._first_ids:
            for follower in self._followers(job, record):
                self._submit(follower)


def _serial(first, followers, fn, threads, log) -> list[tuple[Any, dict[str, Any]]]:
    import torch

    previous = torch.get_num_threads()
    _set_threads(threads)
    out: list[tuple[Any, dict[str, Any]]] = []
    try:
        queue = list(first)
        for job in first:
            record, message = fn(job)
            log(message)
            out.append((job, record))
            queue += followers(job, record)
        for job in queue[len(first) :]:
            record, message = fn(job)
            log(message)
            out.append((job, record))
    finally:
        torch.set_num_threads(previous)
    return out


def _parallel(first, followers, fn, jobs, threads, log, failure) -> list[tuple[Any, dict[str, Any]]]:
    pending: dict[Future, Any] = {}
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_set_threads,
        initargs=(threads,),
    )

    def submit(job: Any) -> None:
        try:
            pending[pool.submit(fn, job)] = job
        except Exception as err:  # the pool broke earlier: this job cannot start
            finish(job, None, _failed(err))

    finish = Finisher(first, followers, log, failure, submit)
    try:
        for job in first:
            submit(job)
        while pending:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                err = fut.exception()
                if err is None:
                    finish(job, fut.result())
                else:
                    finish(job, None, _failed(err))
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)
    return finish.out


def _failed(err: BaseException) -> str:
    return f"worker process failed: {type(err).__name__}: {err}"
