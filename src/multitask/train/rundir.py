"""The run directory: one process at a time (a lock file), no silent overwrite, resume only the same run.

* :class:`RunLock` takes ``run.lock`` with ``fcntl.flock`` (released by the kernel when the holder
  dies, so a stale file left by a killed process is simply taken over); the file records the holder's
  pid, host and start time, which a second process names in its error. Where ``fcntl`` is missing the
  file is created with ``O_EXCL`` and a file whose pid no longer runs on this host is treated as stale.
* :func:`check_fresh_start` refuses a directory that holds a run unless ``force`` (then the run's files
  are removed).
* :func:`check_resume` compares the config stored in the checkpoint with the new one: only the fields in
  :data:`~multitask.train.config.RESUMABLE_CHANGES` may differ, and ``train.epochs`` may only grow.
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from multitask.train.checkpoint import load_checkpoint
from multitask.train.config import RESUMABLE_CHANGES, Config, config_diff

LOCK = "run.lock"
#: files and folders a run writes (what ``--force`` removes)
RUN_FILES = (
    "config.yaml",
    "checkpoint.pt",
    "best.pt",
    "steps.csv",
    "epochs.csv",
    "result.json",
    "error.json",
)
RUN_DIRS = ("tensorboard", "plots")

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunDirError(ValueError):
    """The run directory cannot be used as asked (in use, holds another run, changed config)."""


class RunLock:
    """Exclusive use of a run directory by one process (a context manager)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = self._open()
            if fd is None:
                continue  # a stale O_EXCL lock was removed: try again
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    raise RunDirError(self._busy()) from None
                try:  # the holder may have removed the file between our open and our lock: retry then
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
            os.ftruncate(fd, 0)
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            os.write(fd, f"pid={os.getpid()} host={socket.gethostname()} since={stamp}\n".encode())
            self._fd = fd
            return self

    def _open(self) -> int | None:
        if fcntl is not None:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _parse(self.path)
            if holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", "0") or 0)):
                self.path.unlink(missing_ok=True)
                return None
            raise RunDirError(self._busy()) from None

    def _busy(self) -> str:
        h = _parse(self.path)
        who = f"pid {h.get('pid', '?')} on host {h.get('host', '?')} since {h.get('since', '?')}"
        return (
            f"run directory {self.path.parent} is in use by another multitask process ({who}; lock file "
            f"{self.path}); wait for it to finish or choose another train.out_dir"
        )

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # before unlocking, so no one locks a file about to vanish
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _parse(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return {}
    out = {}
    for part in text.split(" "):
        key, _, value = part.partition("=")
        out[key] = value
    if "since" in out:  # the time stamp holds spaces
        out["since"] = text.split("since=", 1)[1]
    return out


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def existing_run_files(out_dir: Path) -> list[str]:
    return [n for n in (*RUN_FILES, *RUN_DIRS) if (out_dir / n).exists()]


def check_fresh_start(out_dir: Path, force: bool) -> None:
    """A new run: refuse a directory holding a run (or remove its files when ``force``)."""
    found = existing_run_files(out_dir)
    if not found:
        return
    if not force:
        raise RunDirError(
            f"run directory {out_dir} already holds a run ({', '.join(found)}); continue it with --resume, "
            "replace it with --force, or choose another train.out_dir"
        )
    for name in found:
        path = out_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def check_resume(out_dir: Path, stored: dict[str, Any], new: dict[str, Any], trained_epochs: int) -> None:
    """Refuse to resume the run in ``out_dir`` (config ``stored``) with a different config ``new``.

    ``stored`` is read through today's :class:`Config` first, so a key added to the config since the run
    was written (present in ``new`` with its default) is no difference."""
    try:
        stored = Config.from_dict(stored).to_dict()
    except (ValueError, TypeError):
        pass  # a config this version cannot read: compare it as stored (the differences are listed)
    diff = config_diff(stored, new)
    changed = {k: v for k, v in diff.items() if k not in RESUMABLE_CHANGES}
    if changed:
        listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
        raise RunDirError(
            f"cannot resume the run in {out_dir}: its config differs in {listed}. Only "
            f"{', '.join(RESUMABLE_CHANGES)} may change on resume; use --force to start over or choose "
            "another train.out_dir"
        )
    epochs = new["train"]["epochs"]
    if epochs < trained_epochs:
        raise RunDirError(
            f"cannot resume the run in {out_dir} with train.epochs={epochs}: it has already trained "
            f"{trained_epochs} epochs (train.epochs may only grow)"
        )
    if "train.epochs" in diff and new["optim"]["scheduler"] == "cosine":
        raise RunDirError(
            f"cannot resume the run in {out_dir} with a new train.epochs: optim.scheduler=cosine spans the "
            f"run's epoch count ({stored['train']['epochs']}); use --force to start over"
        )


def prepare_run_dir(
    out_dir: Path, config: dict[str, Any], resume: bool, force: bool, map_location: Any
) -> dict[str, Any] | None:
    """Apply the rules above (the caller holds the lock); returns the checkpoint state to resume from.

    ``resume`` with a checkpoint: the same config (up to the resumable fields) continues. ``resume``
    without one: a run with the same ``config.yaml`` (or none) starts over, as nothing can be continued.
    """
    ckpt = out_dir / "checkpoint.pt"
    if resume and ckpt.is_file():
        state = load_checkpoint(ckpt, map_location=map_location)
        check_resume(out_dir, state["config"], config, int(state["epoch"]))
        return state
    if resume:
        if (out_dir / "config.yaml").is_file():
            check_resume(out_dir, Config.from_yaml(out_dir / "config.yaml").to_dict(), config, 0)
        force = True  # nothing to continue from
    check_fresh_start(out_dir, force)
    return None
