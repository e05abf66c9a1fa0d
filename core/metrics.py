"""Detection metrics with the uncertainty a court asks for.

Convention: a higher score means "more likely fake"; labels are 1 for fake, 0 for real. All
functions are pure and take numpy arrays. Error rates come with exact (Clopper-Pearson) binomial
intervals, because with tens of test files a point estimate alone says little.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LN2 = math.log(2.0)


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=int)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError("scores and labels must be 1-D arrays of the same length")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    return s, y


def has_both_classes(labels: np.ndarray) -> bool:
    y = np.asarray(labels)
    return bool(np.any(y == 1) and np.any(y == 0))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count one half)."""
    s, y = _check(scores, labels)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs both real and fake examples")
    ranks = stats.rankdata(np.concatenate([pos, neg]))
    u = ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rates, true-positive rates and thresholds (score >= threshold is "fake")."""
    s, y = _check(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_run = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last_of_run]
    fp = np.cumsum(1 - y)[last_of_run]
    n_pos, n_neg = max(int(y.sum()), 1), max(int((1 - y).sum()), 1)
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    thresholds = np.r_[np.inf, s[last_of_run]]
    return fpr, tpr, thresholds


def eer(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the threshold where it occurs (on the ROC convex hull)."""
    fpr, tpr, thresholds = roc_curve(scores, labels)
    fnr = 1 - tpr
    # The ROC convex hull (ROCCH) gives the EER that the optimal interpolation reaches.
    best = 1.0
    best_t = float(thresholds[-1])
    for i in range(len(fpr) - 1):
        a0, a1, b0, b1 = fpr[i], fpr[i + 1], fnr[i], fnr[i + 1]
        d = (a1 - a0) - (b1 - b0)
        if d == 0:
            continue
        w = (b0 - a0) / d
        if 0 <= w <= 1:
            value = a0 + w * (a1 - a0)
            if value < best:
                best = float(value)
                best_t = float(thresholds[i + 1]) if np.isfinite(thresholds[i + 1]) else best_t
    if best == 1.0:
        idx = int(np.argmin(np.abs(fpr - fnr)))
        best, best_t = float((fpr[idx] + fnr[idx]) / 2), float(thresholds[idx])
    return best, best_t


def cllr(llrs: np.ndarray, labels: np.ndarray) -> float:
    """Log-likelihood-ratio cost in bits: 0 is perfect, 1 is an uninformative system."""
    s, y = _check(llrs, labels)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("Cllr needs both real and fake examples")
    c_pos = np.mean(np.logaddexp(0, -pos)) / LN2
    c_neg = np.mean(np.logaddexp(0, neg)) / LN2
    return float(0.5 * (c_pos + c_neg))


def ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of p_fake with equal-width bins."""
    p, y = _check(probabilities, labels)
    if np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if np.any(mask):
            total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)


def reliability(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean predicted, observed fake rate, count) for each non-empty bin."""
    p, y = _check(probabilities, labels)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)
    return [
        (float(p[index == b].mean()), float(y[index == b].mean()), int((index == b).sum()))
        for b in range(bins)
        if np.any(index == b)
    ]


def clopper_pearson(errors: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval for errors/trials."""
    if trials == 0:
        return (0.0, 1.0)
    alpha = 1 - level
    low = 0.0 if errors == 0 else float(stats.beta.ppf(alpha / 2, errors, trials - errors + 1))
    high = (
        1.0
        if errors == trials
        else float(stats.beta.ppf(1 - alpha / 2, errors + 1, trials - errors))
    )
    return (low, high)


@dataclass(frozen=True)
class ErrorRates:
    threshold: float
    fpr: float
    fpr_ci: tuple[float, float]
    fnr: float
    fnr_ci: tuple[float, float]
    n_real: int
    n_fake: int


def error_rates(scores: np.ndarray, labels: np.ndarray, threshold: float) -> ErrorRates:
    """FPR and FNR when ``score >= threshold`` is called fake, with 95% intervals."""
    s, y = _check(scores, labels)
    n_real, n_fake = int((y == 0).sum()), int((y == 1).sum())
    fp = int(np.sum((s >= threshold) & (y == 0)))
    fn = int(np.sum((s < threshold) & (y == 1)))
    return ErrorRates(
        threshold=threshold,
        fpr=fp / n_real if n_real else float("nan"),
        fpr_ci=clopper_pearson(fp, n_real),
        fnr=fn / n_fake if n_fake else float("nan"),
        fnr_ci=clopper_pearson(fn, n_fake),
        n_real=n_real,
        n_fake=n_fake,
    )
