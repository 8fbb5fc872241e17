"""Classical multi-task learning: MALSAR-style structured regularisation as scikit-learn estimators.

Every estimator keeps one linear model per task (``coef_`` of shape (n_tasks, n_features),
``intercept_``), accepts a shared design ``fit(X, Y)`` or per-task rows ``fit(X, y, task=t)``, keeps
MALSAR's names and scaling for its strengths (the least-squares loss is a sum over samples, the logistic
loss a mean per task) and records the objective history in ``objective_path_``. numpy/scipy only.
"""

from multitask.classic._base import MultiTaskClassifierBase, MultiTaskLinearModel, MultiTaskRegressorBase
from multitask.classic.caso import CASOClassifier, CASORegressor
from multitask.classic.cfgl import CFGLassoClassifier, CFGLassoRegressor
from multitask.classic.cmtl import CMTLClassifier, CMTLRegressor
from multitask.classic.dirty import DirtyClassifier, DirtyRegressor
from multitask.classic.l21 import L21Classifier, L21Regressor
from multitask.classic.lasso import LassoClassifier, LassoRegressor
from multitask.classic.msmtfl import MSMTFLClassifier, MSMTFLRegressor
from multitask.classic.mtfl import MTFLRegressor
from multitask.classic.mtrl import MTRLRegressor
from multitask.classic.rmtfl import RMTFLClassifier, RMTFLRegressor
from multitask.classic.rmtl import RMTLClassifier, RMTLRegressor
from multitask.classic.sparse_trace import SparseTraceClassifier, SparseTraceRegressor
from multitask.classic.srmtl import SRMTLClassifier, SRMTLRegressor
from multitask.classic.tgl import TGLClassifier, TGLRegressor
from multitask.classic.trace import TraceClassifier, TraceRegressor

__all__ = [
    "CASOClassifier",
    "CASORegressor",
    "CFGLassoClassifier",
    "CFGLassoRegressor",
    "CMTLClassifier",
    "CMTLRegressor",
    "DirtyClassifier",
    "DirtyRegressor",
    "L21Classifier",
    "L21Regressor",
    "LassoClassifier",
    "LassoRegressor",
    "MSMTFLClassifier",
    "MSMTFLRegressor",
    "MTFLRegressor",
    "MTRLRegressor",
    "MultiTaskClassifierBase",
    "MultiTaskLinearModel",
    "MultiTaskRegressorBase",
    "RMTFLClassifier",
    "RMTFLRegressor",
    "RMTLClassifier",
    "RMTLRegressor",
    "SRMTLClassifier",
    "SRMTLRegressor",
    "SparseTraceClassifier",
    "SparseTraceRegressor",
    "TGLClassifier",
    "TGLRegressor",
    "TraceClassifier",
    "TraceRegressor",
]
