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
