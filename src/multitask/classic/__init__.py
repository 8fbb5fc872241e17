"""Classical multi-task learning: MALSAR-style structured regularisation as scikit-learn estimators.

Every estimator keeps one linear model per task (``coef_`` of shape (n_tasks, n_features),
``intercept_``) and accepts a shared design ``fit(X, Y)``, per-task rows ``fit(X, y, task=t)``, or the
task id of each row as a column of X (``task_column=j``: ``fit(X, y)``, ``predict(X)``, ``score(X, y)``,
so that ``GridSearchCV`` / ``cross_val_score`` work unchanged). It records the objective after each
iteration in ``objective_path_``. numpy/scipy only.

Scaling. Every least-squares estimator but one minimises ``Σₜ ½‖yₜ − Xₜwₜ − cₜ‖² + penalty`` (a sum over
samples, with the ½); every classifier ``Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ))) + penalty``. The names of
the strengths are MALSAR's. MALSAR's Lasso, L21, Trace, SRMTL, CMTL, cASO, TGL and cFSGL use the same
scaling, so their strengths are MALSAR's; its ``Least_Dirty``, ``Least_rMTFL``, ``Least_RMTL`` and
``Least_SparseTrace`` drop the ½, so MALSAR's penalty strengths there are twice ours (each docstring gives
the translation; SparseTrace's radius ``rho2`` is unchanged); :class:`MSMTFLRegressor` keeps MALSAR's
loss without the ½, so its ``lambda1`` is MALSAR's. MALSAR's ``Least_*`` functions fit no intercept
(``fit_intercept=False`` here; our default is True); its ``Logistic_*`` functions fit one per task.

Scores: a regressor's ``score`` is R² per task averaged over the tasks; the pooled explained variance and
nMSE of the literature are in :mod:`multitask.classic.scoring`.
"""

from multitask.classic._base import MultiTaskLinearModel
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic.caso import CASOClassifier, CASORegressor
from multitask.classic.cfgl import CFGLassoClassifier, CFGLassoRegressor
from multitask.classic.cmtl import CMTLClassifier, CMTLRegressor
from multitask.classic.dirty import DirtyClassifier, DirtyRegressor
from multitask.classic.l21 import L21Classifier, L21Regressor
from multitask.classic.lasso import LassoClassifier, LassoRegressor
from multitask.classic.msmtfl import MSMTFLClassifier, MSMTFLRegressor
from multitask.classic.mtfl import MTFLRegressor
from multitask.classic.mtrl import MTRLRegressor
from multitask.classic.path import L21RegressorCV, LassoRegressorCV, regularisation_path, rho_max
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
    "L21RegressorCV",
    "LassoClassifier",
    "LassoRegressor",
    "LassoRegressorCV",
    "MSMTFLClassifier",
    "MSMTFLRegressor",
    "MTFLRegressor",
    "MTRLRegressor",
    "MultiTaskClassifierMixin",
    "MultiTaskLinearModel",
    "MultiTaskRegressorMixin",
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
    "regularisation_path",
    "rho_max",
]
