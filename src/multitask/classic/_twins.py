"""Shared body of the proximal-gradient estimators and their ``...Regressor`` / ``...Classifier`` twins.

Each such estimator minimises ``smooth(Σ parts, c) + rho_l2‖Σ parts‖²_F + penalty(parts)`` by FISTA
(:meth:`~multitask.classic._base.MultiTaskLinearModel._solve_apg`), where W = Σ parts is one matrix for
most estimators and the sum of two components (W = P + Q, L + S) for the two-part ones. An estimator
file writes one mixin deriving from :class:`ProxGradientModel` — its hyper-parameters (the regressor's
``__init__``), their names in ``_nonneg_params``, the components' attribute names in ``_part_attrs`` and
:meth:`ProxGradientModel._problem` (its penalty and prox) — and the twins are then
``class XRegressor(_XModel, MultiTaskRegressorBase)`` and ``class XClassifier(_XModel,
MultiTaskClassifierBase)``, the classifier repeating the signature with its own defaults (scikit-learn
reads the hyper-parameters from each ``__init__`` signature). :func:`document_twins` fills one docstring
template in for the least-squares regressor and the logistic classifier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from multitask.classic._base import MultiTaskLinearModel
from multitask.classic._graph import PenalisedLoss
from multitask.classic._losses import SmoothLoss

__all__ = ["Composite", "ProxGradientModel", "document_twins"]

Parts = tuple[np.ndarray, ...]

LEAST_SQUARES_LOSS = "Σₜ ½‖yₜ − Xₜwₜ − cₜ‖²"
LOGISTIC_LOSS = "Σₜ mean log(1 + exp(−yₜ ⊙ (Xₜwₜ + cₜ)))"


@dataclass(frozen=True)
class Composite:
    """One fit's composite problem: ``smooth(Σ parts, c) + rho_l2‖Σ parts‖²_F + penalty(parts)``.

    Attributes:
        smooth: the smooth loss, called as a :class:`~multitask.classic._losses.SmoothLoss` (the data
            loss, or a :class:`~multitask.classic._graph.PenalisedLoss` adding smooth penalties to it).
        prox: ``prox(parts, step)``, the proximal operator of ``step · penalty``.
        penalty: ``penalty(parts)``, the non-smooth penalty's value.
        rho_l2: squared-Frobenius strength on W = Σ parts (no ½ factor; default 0).
        on_solution: optional callback given the solution W (d x T), e.g. to store a derived attribute.
    """

    smooth: SmoothLoss | PenalisedLoss
    prox: Callable[[Parts, float], Parts]
    penalty: Callable[[Parts], float]
    rho_l2: float = 0.0
    on_solution: Callable[[np.ndarray], None] | None = None


class ProxGradientModel(MultiTaskLinearModel):
    """Fits W = Σ parts by FISTA on the :class:`Composite` problem returned by :meth:`_problem`.

    Class attributes set by the estimator:
        _part_attrs: names of the fitted components, e.g. ``("P_", "Q_")`` for W = P + Q; each is stored
            transposed like ``coef_`` (n_tasks, n_features). Empty (default): W is a single matrix.
    """

    _part_attrs: tuple[str, ...] = ()

    def _problem(self, loss: SmoothLoss) -> Composite:
        """The composite problem for this fit (``loss`` is the data loss built by ``fit``)."""
        raise NotImplementedError

    def _fit_coef(
        self, Xs: list[np.ndarray], ys: list[np.ndarray], loss: SmoothLoss
    ) -> tuple[np.ndarray, np.ndarray]:
        problem = self._problem(loss)
        parts0, c0 = self._initial_parts(Xs, ys, loss, max(1, len(self._part_attrs)))
        parts, c = self._solve_apg(
            problem.smooth,  # type: ignore[arg-type]  # PenalisedLoss has SmoothLoss's call signature
            parts0,
            c0,
            problem.prox,
            problem.penalty,
            rho_l2=problem.rho_l2,
        )
        for name, part in zip(self._part_attrs, parts):
            setattr(self, name, part.T.copy())
        W = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
        if problem.on_solution is not None:
            problem.on_solution(W)
        return W, c


def document_twins(
    template: str,
    regressor: type,
    regressor_summary: str,
    classifier: type,
    classifier_summary: str,
    *,
    rho_defaults: tuple[str, str] | None = None,
) -> None:
    """Set the twins' ``__doc__`` to their one-line summary followed by ``template`` filled in with
    ``{loss_name}`` (``Least`` / ``Logistic``, as in MALSAR's function names), ``{loss}`` (the formula),
    ``{extra}`` (``, classes_`` for the classifier's attributes) and, when given, ``{rho_default}`` (the
    regressor's and the classifier's text about the default strengths)."""
    reg: dict[str, str] = {} if rho_defaults is None else {"rho_default": rho_defaults[0]}
    clf: dict[str, str] = {} if rho_defaults is None else {"rho_default": rho_defaults[1]}
    regressor.__doc__ = regressor_summary + template.format(
        loss_name="Least", loss=LEAST_SQUARES_LOSS, extra="", **reg
    )
    classifier.__doc__ = classifier_summary + template.format(
        loss_name="Logistic", loss=LOGISTIC_LOSS, extra=", classes_", **clf
    )
