"""Gradient methods, one module each; importing this package registers them all.

A new method is one new module here plus its line below (and in ``multitask.methods``).
"""

from multitask.methods.gradient.aligned_mtl import AlignedMTL
from multitask.methods.gradient.cagrad import CAGrad
from multitask.methods.gradient.conflict_free import ConFIG
from multitask.methods.gradient.db_mtl import DBMTL
from multitask.methods.gradient.dualproj import DualProj
from multitask.methods.gradient.excess_mtl import ExcessMTL
from multitask.methods.gradient.fairgrad import FairGrad
from multitask.methods.gradient.graddrop import GradDrop
from multitask.methods.gradient.gradvac import GradVac
from multitask.methods.gradient.imtl_g import IMTLG
from multitask.methods.gradient.mgda import MGDA
from multitask.methods.gradient.moco import MoCo
from multitask.methods.gradient.nash_mtl import NashMTL
from multitask.methods.gradient.ortho_reg import OrthoReg
from multitask.methods.gradient.pcgrad import PCGrad
from multitask.methods.gradient.pmtl import PMTL, pmtl_preferences
from multitask.methods.gradient.rotograd import RotoGrad
from multitask.methods.gradient.upgrad import UPGrad

__all__ = [
    "AlignedMTL",
    "CAGrad",
    "ConFIG",
    "DBMTL",
    "DualProj",
    "ExcessMTL",
    "FairGrad",
    "GradDrop",
    "GradVac",
    "IMTLG",
    "MGDA",
    "MoCo",
    "NashMTL",
    "OrthoReg",
    "PCGrad",
    "PMTL",
    "pmtl_preferences",
    "RotoGrad",
    "UPGrad",
]
