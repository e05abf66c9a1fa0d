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


def auc_interval(
    auc_value: float, n_real: int, n_fake: int, level: float = 0.95
) -> tuple[float, float]:
    """Confidence interval for an AUC measured on ``n_real`` real and ``n_fake`` fake files.

    A score-type (Wilson-like) interval, after Newcombe (Statistics in Medicine 25, 2006, "an
    effect size measure based on the Mann-Whitney statistic, part 2"): every true AUC θ whose
    Hanley–McNeil variance, evaluated at θ itself and with both sample sizes replaced by their
    mean, keeps the measured AUC within z standard errors. Unlike a Wald or DeLong interval it
    stays inside [0, 1] and does not collapse to a point when the classes happen to be perfectly
    separated: AUC 1.0 on 2 + 2 files is [0.39, 1.00], on 50 + 50 files [0.96, 1.00].
    """
    if n_real <= 0 or n_fake <= 0:
        raise ValueError("an AUC interval needs both real and fake examples")
    if not 0.0 <= auc_value <= 1.0:
        raise ValueError("AUC must lie in [0, 1]")
    z = float(stats.norm.ppf(0.5 + level / 2))
    half_n = (n_real + n_fake) / 2.0

    def outside(theta: float) -> bool:
        var = (
            theta
            * (1 - theta)
            * (1 + (half_n - 1) * ((1 - theta) / (2 - theta) + theta / (1 + theta)))
            / (n_real * n_fake)
        )
        return (auc_value - theta) ** 2 > z * z * var

    def edge(inside: float, outer: float) -> float:
        if not outside(outer):
            return outer
        for _ in range(60):  # bisection between an accepted and a rejected AUC
            middle = (inside + outer) / 2
            if outside(middle):
                outer = middle
            else:
                inside = middle
        return inside

    return (edge(auc_value, 0.0), edge(auc_value, 1.0))


def paired_auc_difference(
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    labels: np.ndarray,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, tuple[float, float]]:
    """AUC(a) − AUC(b) on the same files, with a paired, stratified bootstrap interval.

    Whether new weights beat the shipped ones is a question about the *difference*, and two
    AUCs measured on the same files are correlated: their separate intervals overlap even when
    one system is better on almost every file. Real and fake files are resampled separately
    (each resample keeps both classes) and each resampled file keeps both systems' scores.
    """
    a, y = _check(scores_a, labels)
    b, _ = _check(scores_b, labels)
    if a.shape != b.shape:
        raise ValueError("both systems must score the same files")
    real, fake = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    if len(real) == 0 or len(fake) == 0:
        raise ValueError("an AUC difference needs both real and fake examples")

    observed = auc(a, y) - auc(b, y)
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        files = np.r_[rng.choice(real, len(real)), rng.choice(fake, len(fake))]
        draws[i] = auc(a[files], y[files]) - auc(b[files], y[files])
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return observed, (float(low), float(high))


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
