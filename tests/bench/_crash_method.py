"""Methods whose construction kills their process: stand-ins for a worker that dies (segfault, OOM)."""

import os
import signal
import time
from pathlib import Path

from multitask.methods.base import LossWeighting
from multitask.methods.loss.ew import EW


class Crash(LossWeighting):
    """Exits the process at once when built (never use outside the bench tests)."""

    def __init__(self) -> None:
        super().__init__()
        os._exit(3)


class CrashOnce(EW):
    """Equal weighting whose first construction (no file at ``marker`` yet) creates ``marker`` and
    kills its own process with SIGKILL, as an external ``kill -9`` of the worker would."""

    def __init__(self, marker: str) -> None:
        if not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()), encoding="utf-8")
            os.kill(os.getpid(), signal.SIGKILL)
        super().__init__()


class Hang(LossWeighting):
    """Never finishes being built (a run hanging inside training; never use outside the bench tests)."""

    def __init__(self) -> None:
        super().__init__()
        time.sleep(3600)
