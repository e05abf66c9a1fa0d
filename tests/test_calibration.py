"""core.calibration: fits that recover known LLRs, intervals, storage and application."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core import calibration
from core.calibration import CalibrationStore, fit_calibration
from core.detector import Evidence
from core.errors import BadInputError, DetectorError
from tests.test_detector import make_spec

SPEC = make_spec("visual.toy", calibrated=False)
DATA = {"manifest": "toy.csv", "manifest_sha256": "0" * 64, "root": "toy"}


def gaussian_scores(n: int, d: float = 2.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = np.r_[rng.normal(0, 1, n), rng.normal(d, 1, n)]
    return raw, np.r_[np.zeros(n, int), np.ones(n, int)]


def test_platt_recovers_the_true_llr_of_two_gaussians() -> None:
    raw, labels = gaussian_scores(3000)
    artifact = fit_calibration(SPEC, raw, labels, data=DATA, method="platt")
    # exact LLR for N(0,1) vs N(2,1) is 2x - 2
    assert artifact.platt.slope == pytest.approx(2.0, abs=0.15)
    assert artifact.platt.intercept == pytest.approx(-2.0, abs=0.15)
    assert artifact.version.startswith("platt-") and artifact.n_real == artifact.n_fake == 3000
    assert artifact.fit_metrics["cllr"] < 0.6


def test_class_balance_does_not_shift_the_llr() -> None:
    raw, labels = gaussian_scores(3000)
    keep = np.r_[np.arange(3000), np.arange(3000, 3300)]  # 10x more reals than fakes
    artifact = fit_calibration(SPEC, raw[keep], labels[keep], data=DATA, method="platt")
    assert float(artifact.llr(1.0)) == pytest.approx(0.0, abs=0.3)


def test_isotonic_needs_data_and_is_monotone() -> None:
    raw, labels = gaussian_scores(20)
    with pytest.raises(BadInputError, match="isotonic"):
        fit_calibration(SPEC, raw, labels, data=DATA, method="isotonic")
    assert fit_calibration(SPEC, raw, labels, data=DATA).method == "platt"  # auto
    raw, labels = gaussian_scores(400)
    artifact = fit_calibration(SPEC, raw, labels, data=DATA)
    assert artifact.method == "isotonic"
    grid = artifact.llr(np.linspace(-3, 5, 50))
    assert np.all(np.diff(grid) >= -1e-12)
    assert np.all(np.abs(grid) <= calibration.LLR_LIMIT)


def test_intervals_narrow_with_more_data() -> None:
    small = fit_calibration(SPEC, *gaussian_scores(15, seed=3), data=DATA, method="platt")
    large = fit_calibration(SPEC, *gaussian_scores(1500, seed=3), data=DATA, method="platt")
    lo_s, hi_s = small.llr_interval(3.0)
    lo_l, hi_l = large.llr_interval(3.0)
    assert lo_s <= float(small.llr(3.0)) <= hi_s
    assert (hi_l - lo_l) < (hi_s - lo_s)


def test_too_few_examples_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="at least 2"):
        fit_calibration(SPEC, np.array([0.1, 0.2, 0.9]), np.array([0, 0, 1]), data=DATA)


def test_apply_stamps_evidence_and_refuses_other_versions() -> None:
    artifact = fit_calibration(SPEC, *gaussian_scores(200), data=DATA, method="platt")
    evidence = Evidence.from_llr(SPEC, raw_score=3.0, llr=0.0)
    calibrated = artifact.apply(evidence)
    assert calibrated.calibrated and calibrated.calibration_version == artifact.version
    assert calibrated.llr == pytest.approx(float(artifact.llr(3.0)))
    assert calibrated.llr_interval is not None and calibrated.p_fake > 0.5
    other = Evidence.from_llr(make_spec("visual.toy", version="9.9.9"), raw_score=1, llr=0)
    with pytest.raises(DetectorError, match=r"not visual\.toy 9\.9\.9"):
        artifact.apply(other)


def test_save_load_and_store_precedence(tmp_path: Path) -> None:
    artifact = fit_calibration(SPEC, *gaussian_scores(100), data=DATA, method="platt")
    store = CalibrationStore(tmp_path)
    assert store.get(SPEC) is None
    path = calibration.save(artifact, calibration.user_path(tmp_path, SPEC))
    assert store.get(SPEC) == artifact and store.path_for(SPEC) == path
    assert not list(path.parent.glob(".calibration-*"))
    path.write_text(json.dumps({"detector": "visual.toy"}))
    with pytest.raises(DetectorError, match="unusable"):
        store.get(SPEC)
