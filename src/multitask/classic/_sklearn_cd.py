"""scikit-learn's coordinate descent as an engine: ``enet_path`` without its per-call overheads.

Our estimators validate their inputs once in ``fit``; each call of scikit-learn's public ``enet_path``
would validate its parameters again (about half a millisecond, more than the solve on small problems).
:func:`enet_path_engine` calls it under ``sklearn.config_context(skip_parameter_validation=True,
assume_finite=True)`` and silences its ``ConvergenceWarning`` (our own, on our own duality gap, is raised
by ``fit``).
"""

from __future__ import annotations

import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import enet_path

__all__ = ["enet_path_engine"]


def enet_path_engine(X: np.ndarray, y: np.ndarray, **kwargs) -> tuple:
    """``enet_path(X, y, check_input=False, return_n_iter=True, copy_X=False, **kwargs)``, quiet and
    without parameter validation (X Fortran-ordered float64, y float64: the caller's duty)."""
    quiet = sklearn.config_context(skip_parameter_validation=True, assume_finite=True)
    with warnings.catch_warnings(), quiet:
        warnings.simplefilter("ignore", ConvergenceWarning)
        return enet_path(X, y, check_input=False, return_n_iter=True, copy_X=False, **kwargs)
