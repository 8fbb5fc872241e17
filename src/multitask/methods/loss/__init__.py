"""Loss weightings, one module each; importing this package registers them all.

A new weighting is one new module here plus its line below (and in ``multitask.methods``).
"""

from multitask.methods.loss.dtp import DTP
from multitask.methods.loss.dwa import DWA
from multitask.methods.loss.ew import EW
from multitask.methods.loss.famo import FAMO
from multitask.methods.loss.gls import GLS
from multitask.methods.loss.gradnorm import GradNorm
from multitask.methods.loss.imtl_l import IMTLL
from multitask.methods.loss.rlw import RLW
from multitask.methods.loss.si import SI
from multitask.methods.loss.stch import STCH
from multitask.methods.loss.uw import UW

__all__ = [
    "DTP",
    "DWA",
    "EW",
    "FAMO",
    "GLS",
    "GradNorm",
    "IMTLL",
    "RLW",
    "SI",
    "STCH",
    "UW",
]
