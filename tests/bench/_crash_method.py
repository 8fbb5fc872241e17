"""A method whose construction kills its process: stands for a worker that dies (segfault, OOM)."""

import os

from multitask.methods.base import LossWeighting


class Crash(LossWeighting):
    """Exits the process at once when built (never use outside the bench tests)."""

    def __init__(self) -> None:
        super().__init__()
        os._exit(3)
