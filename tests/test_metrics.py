"""core.metrics against score distributions whose correct metrics are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from core import metrics


def test_perfect_separation() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert metrics.auc(scores, labels) == 1.0
    assert metrics.eer(scores, labels)[0] == 0.0
    rates = metrics.error_rates(scores, labels, 0.5)
    assert rates.fpr == 0 and rates.fnr == 0


def test_identical_scores_are_chance() -> None:
    scores = np.zeros(10)
    labels = np.array([0, 1] * 5)
    assert metrics.auc(scores, labels) == 0.5
    assert metrics.eer(scores, labels)[0] == pytest.approx(0.5)
    assert metrics.cllr(np.zeros(10), labels) == pytest.approx(1.0)  # LLR 0: uninformative


def test_gaussian_shift_matches_theory() -> None:
    rng = np.random.default_rng(7)
    d = 2.0
    real = rng.normal(0, 1, 20_000)
    fake = rng.normal(d, 1, 20_000)
    scores = np.concatenate([real, fake])
    labels = np.concatenate([np.zeros_like(real), np.ones_like(fake)]).astype(int)
    assert metrics.auc(scores, labels) == pytest.approx(stats.norm.cdf(d / math.sqrt(2)), abs=0.005)
    assert metrics.eer(scores, labels)[0] == pytest.approx(stats.norm.cdf(-d / 2), abs=0.005)
    # the exact LLR of two unit Gaussians is d*x - d^2/2: its Cllr is well below 1
    llr = d * scores - d * d / 2
    value = metrics.cllr(llr, labels)
    assert 0.3 < value < 0.6
    assert metrics.cllr(llr * 3, labels) > value  # over-confident LLRs cost more


def test_cllr_of_perfect_confident_system_is_near_zero() -> None:
    labels = np.array([0, 1, 0, 1])
    assert metrics.cllr(np.array([-30.0, 30.0, -30.0, 30.0]), labels) < 1e-9


def test_ece() -> None:
    labels = np.array([0, 0, 1, 1])
    assert metrics.ece(np.array([0.0, 0.0, 1.0, 1.0]), labels) == 0.0
    assert metrics.ece(np.array([1.0, 1.0, 0.0, 0.0]), labels) == 1.0
    assert metrics.ece(np.full(4, 0.5), labels) == pytest.approx(0.0)


def test_clopper_pearson_known_values() -> None:
    assert metrics.clopper_pearson(0, 10) == pytest.approx((0.0, 0.3084971), abs=1e-6)
    low, high = metrics.clopper_pearson(5, 10)
    assert low == pytest.approx(0.187086, abs=1e-5) and high == pytest.approx(0.812914, abs=1e-5)
    assert metrics.clopper_pearson(3, 0) == (0.0, 1.0)


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="both"):
        metrics.auc(np.array([1.0, 2.0]), np.array([1, 1]))
    with pytest.raises(ValueError, match="finite"):
        metrics.auc(np.array([np.nan, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="labels"):
        metrics.auc(np.array([0.0, 1.0]), np.array([0, 2]))


def test_auc_interval_stays_in_range_and_does_not_collapse_at_separation() -> None:
    low, high = metrics.auc_interval(1.0, 2, 2)
    assert 0.3 < low < 0.5 and high == 1.0  # 2 + 2 perfectly separated files prove little
    low50, high50 = metrics.auc_interval(1.0, 50, 50)
    assert 0.9 < low50 < 1.0 and high50 == 1.0
    for auc, m, n in [(0.5, 6, 6), (0.792, 6, 4), (0.0, 3, 3), (0.9, 100, 100)]:
        low, high = metrics.auc_interval(auc, m, n)
        assert 0.0 <= low <= auc <= high <= 1.0
        # labels swapped: the interval mirrors
        mirrored = metrics.auc_interval(1 - auc, m, n)
        assert mirrored == pytest.approx((1 - high, 1 - low), abs=1e-9)
    # more files, narrower interval
    widths = [np.diff(metrics.auc_interval(0.8, k, k))[0] for k in (5, 20, 80, 320)]
    assert widths == sorted(widths, reverse=True)
    with pytest.raises(ValueError):
        metrics.auc_interval(0.7, 0, 5)


@pytest.mark.parametrize(("true_auc", "n_real", "n_fake"), [(0.8, 15, 15), (0.9, 10, 30)])
def test_auc_interval_covers_the_true_auc_about_95_percent(true_auc, n_real, n_fake) -> None:
    """Binormal scores with a known AUC (Φ(d/√2)): the 95% interval must cover it in roughly
    95% of repeated samples, not 80% (too narrow) nor 100% (useless)."""
    rng = np.random.default_rng(7)
    shift = math.sqrt(2) * stats.norm.ppf(true_auc)
    labels = np.r_[np.zeros(n_real), np.ones(n_fake)].astype(int)
    covered = 0
    repeats = 400
    for _ in range(repeats):
        scores = np.r_[rng.normal(0, 1, n_real), rng.normal(shift, 1, n_fake)]
        low, high = metrics.auc_interval(metrics.auc(scores, labels), n_real, n_fake)
        covered += low <= true_auc <= high
    assert 0.91 <= covered / repeats <= 0.99


def test_paired_auc_difference_sees_what_separate_intervals_cannot() -> None:
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(30), np.ones(30)].astype(int)
    base = np.r_[rng.normal(0, 1, 30), rng.normal(1.0, 1, 30)]
    better = base + labels * 0.6  # the same files, every fake pushed up a little
    diff, (low, high) = metrics.paired_auc_difference(better, base, labels)
    assert diff == pytest.approx(metrics.auc(better, labels) - metrics.auc(base, labels))
    assert 0 < low <= diff <= high  # the gain is shown by the paired interval ...
    a_low, _ = metrics.auc_interval(metrics.auc(better, labels), 30, 30)
    _, b_high = metrics.auc_interval(metrics.auc(base, labels), 30, 30)
    assert a_low < b_high  # ... while the two separate intervals overlap
    same, (s_low, s_high) = metrics.paired_auc_difference(base, base, labels)
    assert same == 0.0 and s_low == s_high == 0.0
    noise = rng.normal(0, 1, 60)
    _, (n_low, n_high) = metrics.paired_auc_difference(noise, rng.normal(0, 1, 60), labels)
    assert n_low < 0 < n_high  # two chance-level systems: no difference shown
    with pytest.raises(ValueError):
        metrics.paired_auc_difference(base, base[:10], labels)
