"""Multi-stage multi-task feature learning with the capped-ℓ1,ℓ1 penalty (MALSAR ``Least_msmtfl_capL1``)."""

from __future__ import annotations

import numpy as np

from multitask.classic._base import hyperparameters
from multitask.classic._losses import SmoothLoss
from multitask.classic._mixins import MultiTaskClassifierMixin, MultiTaskRegressorMixin
from multitask.classic._prox import prox_l1
from multitask.classic._prox_gradient import Composite, ProxGradientEstimator, per_part

__all__ = ["MSMTFLRegressor", "MSMTFLClassifier", "capped_l1_objective"]


def capped_l1_objective(loss_value: float, W: np.ndarray, lambda1: float, theta: float) -> float:
    """``loss_value + λ Σⱼ min(‖Wⱼ,:‖₁, θ)`` (MALSAR's objective when ``loss_value = ‖XW − Y‖²_F``)."""
    return float(loss_value + lambda1 * np.minimum(np.abs(W).sum(axis=1), theta).sum())


@hyperparameters
class _MSMTFL(ProxGradientEstimator):
    """Hyper-parameters (regressor defaults) and multi-stage solver of :class:`MSMTFLRegressor` /
    :class:`MSMTFLClassifier`; ``_loss_scale`` is MALSAR's loss divided by the package's."""

    lambda1: float = 1.0
    theta: float = 1.0
    max_stages: int = 20

    _loss_scale = 1.0

    def _validate_params_extra(self) -> None:
        name = type(self).__name__
        self._check_nonneg(lambda1=self.lambda1, theta=self.theta)
        if self.theta <= 0:
            raise ValueError(f"{name}: theta must be > 0, got {self.theta!r}")
        ms = self.max_stages
        if isinstance(ms, bool) or not isinstance(ms, (int, np.integer)) or ms < 1:
            raise ValueError(f"{name}: max_stages must be a positive integer, got {ms!r}")

    def _fit_coef(
        self, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss
    ) -> tuple[np.ndarray, np.ndarray]:
        """The multi-stage scheme on ``scale · loss + λ Σⱼ min(‖Wⱼ,:‖₁, θ)`` (scale = ``_loss_scale``)."""
        lam, theta, scale = float(self.lambda1), float(self.theta), float(self._loss_scale)
        parts, c = self._initial_parts(Xs, ys, loss)
        weights = np.full(loss.n_features, lam)
        stage_weights: list[np.ndarray] = []
        path: list[float] = []
        most_iter = 0
        for _ in range(int(self.max_stages)):
            stage_weights.append(weights.copy())
            w = weights[:, None] / scale  # the stage objective divided by scale, on the package's loss
            stage = Composite(
                loss,
                lambda p, step, w=w: (prox_l1(p[0], w * per_part(step, 1)[0]),),
                lambda p, w=w: float(np.sum(w * np.abs(p[0]))),
                rows=(True,),
            )
            parts, c = self._solve(stage, parts, c)
            most_iter = max(most_iter, self.n_iter_)
            W = parts[0]
            path.append(capped_l1_objective(scale * loss.value(W, c), W, lam, theta))
            new_weights = lam * (np.abs(W).sum(axis=1) < theta)
            if np.array_equal(new_weights, weights):
                break
            weights = new_weights
        self.stage_weights_ = np.array(stage_weights)
        self.n_stages_ = len(stage_weights)
        self.objective_path_ = np.asarray(path)
        self.n_iter_ = most_iter
        return parts[0], c


class MSMTFLRegressor(MultiTaskRegressorMixin, _MSMTFL):
    """Multi-stage multi-task feature learning (capped-ℓ1,ℓ1), least squares.

    Gong, Ye, Zhang. Multi-stage multi-task feature learning. NeurIPS 2012 (JMLR 2013).

    Non-convex objective (W is d x T, one column per task; MALSAR ``Least_msmtfl_capL1``, whose loss has
    no ½ factor)::

        min_{W, c}  Σₜ ‖yₜ − Xₜwₜ − cₜ‖²  +  lambda1 Σⱼ min(‖Wⱼ,:‖₁, theta)

    Unlike the other least-squares estimators of :mod:`multitask.classic` (loss Σₜ ½‖·‖²), this one keeps
    MALSAR's loss without the ½, so ``lambda1`` and ``theta`` are MALSAR's ``lambda`` and ``theta``
    unchanged; MALSAR fits no intercept (``fit_intercept=False`` here gives its solution).

    Each feature row's ℓ1 norm is capped at θ, so large (clearly relevant) rows are not shrunk. Solved by
    the multi-stage convex relaxation (a majorise-minimise scheme; the objective never increases when the
    stages are solved exactly): stage ℓ solves the weighted lasso

        min_W  Σₜ ‖yₜ − Xₜwₜ − cₜ‖²  +  Σⱼ λⱼ^(ℓ) ‖Wⱼ,:‖₁,   λⱼ^(1) = lambda1,
        λⱼ^(ℓ+1) = lambda1 · 1[‖Ŵⱼ,:^(ℓ)‖₁ < theta]

    by accelerated proximal gradient (warm-started from the previous stage), until the weights repeat
    (the next stage would return the same solution) or ``max_stages`` stages ran. Stage 1 is the lasso.

    Args:
        lambda1: capped-ℓ1 strength (MALSAR ``lambda``; default 1.0 here — chosen by cross-validation in
            the paper).
        theta: the cap θ > 0 on each row's ℓ1 norm (MALSAR ``theta``; default 1.0 here).
        max_stages: maximal number of stages (default 20).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel`; ``max_iter``/``tol``/``stop`` apply to each
    stage's solver.

    Attributes:
        coef_ (n_tasks, n_features), intercept_ (n_tasks,), n_tasks_,
        objective_path_: MALSAR's objective after each stage (non-increasing),
        stage_weights_ (n_stages, n_features): the row weights λⱼ of each stage,
        n_stages_: the number of stages run,
        n_iter_: the largest number of solver iterations used by a stage.
    """

    _loss_scale = 2.0  # MALSAR's loss ‖XW − Y‖²_F is twice the package's Σₜ ½‖·‖²


@hyperparameters
class MSMTFLClassifier(MultiTaskClassifierMixin, _MSMTFL):
    """Multi-stage multi-task feature learning (capped-ℓ1,ℓ1), logistic loss.

    Gong, Ye, Zhang. Multi-stage multi-task feature learning. NeurIPS 2012 — the same multi-stage
    scheme as :class:`MSMTFLRegressor` (the paper states it for any convex smooth loss; MALSAR ships the
    least-squares version only) on::

        min_{W, c}  Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))  +  lambda1 Σⱼ min(‖Wⱼ,:‖₁, theta)

    Args:
        lambda1: capped-ℓ1 strength (default 0.01 here, as the loss is a per-task mean).
        theta: the cap θ > 0 on each row's ℓ1 norm (default 10.0 here: rows past the cap are unpenalised,
            and the logistic loss alone has no minimiser on separable data).
        max_stages: maximal number of stages (default 20).

    The keyword-only parameters common to every estimator (``fit_intercept``, ``max_iter``, ``tol``, ``stop``,
    ``init``, ``warm_start``, ``verbose``, ``task_column``): see
    :class:`~multitask.classic._base.MultiTaskLinearModel` (per stage).

    Attributes:
        coef_, intercept_, n_tasks_, classes_, objective_path_ (after each stage), stage_weights_,
        n_stages_, n_iter_ (as :class:`MSMTFLRegressor`).
    """

    lambda1: float = 0.01
    theta: float = 10.0
