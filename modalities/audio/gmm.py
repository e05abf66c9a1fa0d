"""Diagonal-covariance Gaussian mixtures: fitting through scikit-learn, scoring in NumPy.

Weights are stored as plain arrays (``.npz``), never as pickles, so loading a weights file cannot
run code, and scoring needs nothing but NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

SCORE_BLOCK = 4096  # frames scored at once


@dataclass(frozen=True)
class DiagGMM:
    weights: np.ndarray  # (k,)
    means: np.ndarray  # (k, d)
    variances: np.ndarray  # (k, d)

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """Per-frame log-density, shape (n,), in double precision.

        The parameters are widened to double precision first: scikit-learn fits
        single-precision data with single-precision parameters, and NumPy's single-precision
        logarithm of the variances differs by a unit in the last place from one CPU's vector
        code to another's (3.8e-6 of a frame's log-density in audio.lfcc_gmm 1.1.0). The
        squared distances are summed dimension by dimension with elementwise operations, each
        rounded once in a fixed order, so the result does not depend on the BLAS kernel or the
        thread count at all; expanded into x² − 2xμ + μ² with matrix products (1.1.0) the terms
        nearly cancel and the kernel's order of summation reached a frame's score at about
        1e-13 in double precision. Frames go in blocks, so the (frames, components) work array
        stays small for a 10-minute passage."""
        x = np.asarray(x, dtype=np.float64)
        weights, means, variances = (
            np.asarray(a, dtype=np.float64) for a in (self.weights, self.means, self.variances)
        )
        inv = 1.0 / variances
        const = -0.5 * (x.shape[1] * np.log(2 * np.pi) + np.log(variances).sum(axis=1))
        offset = np.log(weights) + const
        means_by_dim, inv_by_dim = np.ascontiguousarray(means.T), np.ascontiguousarray(inv.T)
        out = np.empty(len(x))
        for start in range(0, len(x), SCORE_BLOCK):
            block = x[start : start + SCORE_BLOCK]
            quad = np.zeros((len(block), len(weights)))
            term = np.empty_like(quad)
            for dim in range(x.shape[1]):  # ((x − μ)²)·σ⁻², added dimension by dimension
                np.subtract(block[:, dim, None], means_by_dim[dim], out=term)
                np.multiply(term, term, out=term)
                np.multiply(term, inv_by_dim[dim], out=term)
                np.add(quad, term, out=quad)
            out[start : start + len(block)] = logsumexp(offset - 0.5 * quad, axis=1)
        return out

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
