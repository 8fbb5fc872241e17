"""Training: :class:`Config` (dataclasses <-> YAML) and :class:`Trainer` (one run of dataset x model x
method), with construction in :mod:`multitask.train.build` and the run directory's rules in
:mod:`multitask.train.rundir`."""

from multitask.train.config import Config
from multitask.train.trainer import NonFiniteLossError, Trainer

__all__ = ["Config", "NonFiniteLossError", "Trainer"]
