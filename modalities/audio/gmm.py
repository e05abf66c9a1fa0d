"""Diagonal-covariance Gaussian mixtures: fitting through scikit-learn, scoring in NumPy.

Weights are stored as plain arrays (``.npz``), never as pickles, so loading a weights file cannot
run code, and scoring needs nothing but NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp


@dataclass(frozen=True)
class DiagGMM:
    weights: np.ndarray  # (k,)
    means: np.ndarray  # (k, d)
    variances: np.ndarray  # (k, d)

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """Per-frame log-density, shape (n,)."""
        inv = 1.0 / self.variances
        const = -0.5 * (x.shape[1] * np.log(2 * np.pi) + np.log(self.variances).sum(axis=1))
        quad = (x**2) @ inv.T - 2 * x @ (self.means * inv).T + (self.means**2 * inv).sum(axis=1)
        return np.asarray(logsumexp(np.log(self.weights) + const - 0.5 * quad, axis=1))

    @classmethod
    def fit(cls, x: np.ndarray, components: int, seed: int) -> DiagGMM:
        from sklearn.mixture import GaussianMixture

        model = GaussianMixture(
            n_components=components,
            covariance_type="diag",
            max_iter=100,
            reg_covar=1e-3,
            random_state=seed,
        )
        model.fit(x)
        return cls(model.weights_, model.means_, model.covariances_)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}_weights": self.weights,
            f"{prefix}_means": self.means,
            f"{prefix}_variances": self.variances,
        }

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], prefix: str) -> DiagGMM:
        return cls(data[f"{prefix}_weights"], data[f"{prefix}_means"], data[f"{prefix}_variances"])
