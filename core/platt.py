"""Platt mappings: a class-balanced, lightly regularised logistic fit of labels on one raw score.

Kept apart from core.calibration because both the per-detector calibration and its
family-held-out shrinkage (core.family_holdout) fit many of them: a replicate of the bootstrap
refits one per held-out family and real source, so the fit is a few Newton steps in numpy rather
than a general solver.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

LLR_LIMIT = 10.0  # |LLR| is clipped: no finite calibration set justifies more than e^10 : 1
C = 1.0  # inverse L2 strength on the standardised slope (scikit-learn's default convention)


class PlattParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    slope: float
    intercept: float

    def llr(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(self.slope * raw + self.intercept, dtype=float)


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-example weights that give both classes the same total (the LLR ignores class sizes)."""
    n_fake, n_real = labels.sum(), (1 - labels).sum()
    weights = np.where(labels == 1, 0.5 / n_fake, 0.5 / n_real) * len(labels)
    return np.asarray(weights, dtype=float)


def balanced_log_loss(llr: np.ndarray, labels: np.ndarray) -> float:
    sign = np.where(labels == 1, -1.0, 1.0)
    return float(np.sum(balanced_weights(labels) * np.logaddexp(0.0, sign * llr)) / len(llr))


def fit_platt(raw: np.ndarray, labels: np.ndarray) -> PlattParams:
    """Minimise ``½w² + C·Σ weight·logloss`` over slope ``w`` (on standardised scores) and an
    unpenalised intercept, by Newton's method with step halving (the objective is convex)."""
    raw = np.asarray(raw, dtype=float)
    labels = np.asarray(labels, dtype=float)
    scale = float(np.std(raw)) or 1.0  # standardised, so C means the same for every detector
    x = raw / scale
    weights = C * balanced_weights(labels.astype(int))
    sign = np.where(labels == 1, -1.0, 1.0)

    def objective(theta: np.ndarray) -> float:
        z = theta[0] * x + theta[1]
        return float(0.5 * theta[0] ** 2 + np.sum(weights * np.logaddexp(0.0, sign * z)))

    theta = np.zeros(2)
    current = objective(theta)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(theta[0] * x + theta[1])))
        residual = weights * (p - labels)
        gradient = np.array([theta[0] + residual @ x, residual.sum()])
        curvature = weights * p * (1 - p)
        hessian = np.array(
            [
                [1.0 + curvature @ (x * x), curvature @ x],
                [curvature @ x, curvature.sum() + 1e-12],
            ]
        )
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-10:
            candidate = theta - size * step
            value = objective(candidate)
            if value <= current:
                break
            size /= 2
        theta, current = candidate, value
        if np.max(np.abs(size * step)) < 1e-10:
            break
    return PlattParams(slope=float(theta[0]) / scale, intercept=float(theta[1]))
