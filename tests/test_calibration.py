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
from core.media import MediaKind
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
    assert store.get(SPEC, "image") is None
    path = calibration.save(artifact, calibration.user_path(tmp_path, SPEC))
    found = store.find(SPEC, "image")
    assert found is not None and found == (path, artifact)
    assert not list(path.parent.glob(".calibration-*"))
    path.write_text(json.dumps({"detector": "visual.toy"}))
    with pytest.raises(DetectorError, match="unusable"):
        store.get(SPEC, "image")


VIDEO_SPEC = make_spec(
    "visual.toy", calibrated=False, media_kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO})
)


def test_each_kind_of_media_gets_the_mapping_fitted_on_it(tmp_path: Path) -> None:
    """An image-only fit never applies to videos, a video fit sits beside it, and a file named
    for one kind that was fitted on another is refused rather than applied."""
    images = fit_calibration(
        VIDEO_SPEC, *gaussian_scores(100), data=DATA, method="platt", media_kinds=("image",)
    )
    videos = fit_calibration(
        VIDEO_SPEC, *gaussian_scores(100, d=1.0), data=DATA, method="platt", media_kinds=("video",)
    )
    store = CalibrationStore(tmp_path)
    calibration.save(images, calibration.user_path(tmp_path, VIDEO_SPEC))  # general name
    assert store.get(VIDEO_SPEC, "image") == images
    assert store.get(VIDEO_SPEC, "video") is None  # image scores are another scale
    video_path = calibration.save(videos, calibration.user_path(tmp_path, VIDEO_SPEC, "video"))
    assert store.get(VIDEO_SPEC, "video") == videos
    assert store.get(VIDEO_SPEC, "image") == images
    assert {k: a.version for k, (_p, a) in store.in_force(VIDEO_SPEC).items()} == {
        "image": images.version,
        "video": videos.version,
    }
    calibration.save(images, video_path)  # an image fit under the video's name
    with pytest.raises(DetectorError, match="other media than video"):
        store.get(VIDEO_SPEC, "video")


# ------------------------------------------------------------- holding out generator families


def family_scores(
    shifts: dict[str, float], n: int = 300, seed: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reals N(0,1); each family's fakes N(shift,1); families named for the reals too."""
    rng = np.random.default_rng(seed)
    raw = [rng.normal(0, 1, n * len(shifts))]
    labels = [np.zeros(n * len(shifts), int)]
    families = [np.array(["real"] * (n * len(shifts)), dtype=object)]
    for name, shift in shifts.items():
        raw.append(rng.normal(shift, 1, n))
        labels.append(np.ones(n, int))
        families.append(np.array([name] * n, dtype=object))
    return np.concatenate(raw), np.concatenate(labels), np.concatenate(families)


def test_families_that_agree_keep_the_plain_fit() -> None:
    raw, labels, families = family_scores({"a": 2.0, "b": 2.0, "c": 2.0})
    plain = fit_calibration(SPEC, raw, labels, data=DATA, method="platt")
    held = fit_calibration(SPEC, raw, labels, data=DATA, families=families)
    assert held.shrinkage is not None and held.shrinkage.slope > 0.9
    assert held.shrinkage.families == {"a": 300, "b": 300, "c": 300}
    assert float(held.llr(3.0)) == pytest.approx(float(plain.llr(3.0)), abs=0.4)
    assert held.shrinkage.cllr_shrunk <= held.shrinkage.cllr_out_of_family + 1e-9


def test_a_family_the_detector_misses_shrinks_the_mapping() -> None:
    # one family far out (the fit would claim near-certainty), one no different from reals
    raw, labels, families = family_scores({"seen": 4.0, "unseen": 0.0})
    plain = fit_calibration(SPEC, raw, labels, data=DATA, method="platt")
    held = fit_calibration(SPEC, raw, labels, data=DATA, families=families)
    sh = held.shrinkage
    assert sh is not None and sh.slope < 0.8
    assert sh.auc_by_family["seen"] > 0.95 and sh.auc_by_family["unseen"] < 0.6
    assert sh.cllr_shrunk < sh.cllr_out_of_family
    assert abs(float(held.llr(4.0))) < abs(float(plain.llr(4.0)))
    lo, hi = held.llr_interval(4.0)
    assert lo <= float(held.llr(4.0)) <= hi


def test_families_that_contradict_each_other_leave_no_evidence() -> None:
    # one generator's fakes score high, another's low: no direction holds for an unseen one
    raw, labels, families = family_scores({"high": 3.0, "low": -3.0})
    held = fit_calibration(SPEC, raw, labels, data=DATA, families=families)
    assert held.shrinkage is not None and held.shrinkage.slope == pytest.approx(0.0, abs=0.02)
    assert np.all(np.abs(held.llr(np.linspace(-5, 5, 21))) < 0.2)


def test_family_problems_are_bad_input() -> None:
    raw, labels, families = family_scores({"only": 2.0}, n=20)
    with pytest.raises(BadInputError, match="at least 2"):
        fit_calibration(SPEC, raw, labels, data=DATA, families=families)
    raw, labels, families = family_scores({"a": 2.0, "b": 2.0}, n=20)
    with pytest.raises(BadInputError, match="isotonic"):
        fit_calibration(SPEC, raw, labels, data=DATA, families=families, method="isotonic")
    families[-1] = "lonely"
    with pytest.raises(BadInputError, match="fewer than 2 fakes: lonely"):
        fit_calibration(SPEC, raw, labels, data=DATA, families=families)


def test_shrinkage_is_stored_and_cited(tmp_path: Path) -> None:
    raw, labels, families = family_scores({"a": 3.0, "b": 1.0}, n=60)
    held = fit_calibration(SPEC, raw, labels, data=DATA, families=families)
    again = calibration.load(calibration.save(held, tmp_path / "c.json"))
    assert again == held and again.shrinkage is not None
    plain = fit_calibration(SPEC, raw, labels, data=DATA, method="platt")
    assert plain.shrinkage is None and plain.version != held.version


def test_a_real_source_the_detector_calls_fake_shrinks_the_mapping() -> None:
    # reals from two cameras; the detector scores camera B's like fakes half the time
    raw, labels, families = family_scores({"a": 3.0, "b": 3.0}, n=200)
    reals = np.flatnonzero(labels == 0)
    raw[reals[200:]] += 2.0
    pooled = fit_calibration(SPEC, raw, labels, data=DATA, families=families)
    families[reals[:200]], families[reals[200:]] = "cam_a", "cam_b"
    sourced = fit_calibration(SPEC, raw, labels, data=DATA, families=families)
    assert pooled.shrinkage is not None and sourced.shrinkage is not None
    assert pooled.shrinkage.real_sources == {}
    assert sourced.shrinkage.real_sources == {"cam_a": 200, "cam_b": 200}
    assert sourced.shrinkage.slope < pooled.shrinkage.slope
    assert sourced.shrinkage.cllr_out_of_family > pooled.shrinkage.cllr_out_of_family


def test_platt_fit_matches_a_general_solver() -> None:
    from scipy.optimize import minimize

    from core.platt import balanced_weights, fit_platt

    raw, labels = gaussian_scores(200, d=1.0, seed=9)
    raw = raw[40:]  # unequal classes: the balancing matters
    labels = labels[40:]
    x = raw / np.std(raw)
    weights = balanced_weights(labels)
    sign = np.where(labels == 1, -1.0, 1.0)
    solved = minimize(
        lambda p: 0.5 * p[0] ** 2 + np.sum(weights * np.logaddexp(0, sign * (p[0] * x + p[1]))),
        x0=np.zeros(2),
        method="BFGS",
        options={"gtol": 1e-10},
    )
    fit = fit_platt(raw, labels)
    assert fit.slope * np.std(raw) == pytest.approx(solved.x[0], abs=1e-5)
    assert fit.intercept == pytest.approx(solved.x[1], abs=1e-5)


def test_every_shipped_calibration_loads_for_its_detector_version() -> None:
    """A shipped calibration.json belongs to the version beside it, and a visual one names the
    media kinds it was fitted on (a video's score is another scale than an image's)."""
    import modalities  # noqa: F401  (registers the shipped detectors)
    from core.detector import REGISTRY

    store = CalibrationStore(None)
    shipped = {}
    for name in REGISTRY.names():
        spec = REGISTRY.spec(name)
        for kind, (_path, artifact) in store.in_force(spec).items():
            shipped[name] = artifact
            assert artifact.detector_version == spec.version
            assert artifact.covers(kind)
            assert artifact.n_real >= 2 and artifact.n_fake >= 2 and artifact.bootstrap
            if artifact.shrinkage is not None:
                assert 0.0 <= artifact.shrinkage.slope <= 1.0
            if spec.modality.value == "visual":
                assert artifact.media_kinds == (kind,), name
    assert {"audio.lfcc_gmm", "visual.blend", "lipsync.av_offset"} <= set(shipped)


def test_a_source_too_large_to_leave_a_fit_without_it_is_not_held_out() -> None:
    """Eleven clips of one corpus and one of another: a fit without the eleven would rest on one
    real, so the reals are held out in seeded folds instead, and the detector keeps its fit."""
    raw, labels, families = family_scores({"a": 3.0, "b": 3.0, "c": 3.0}, n=12)
    reals = np.flatnonzero(labels == 0)
    families[reals] = "big"
    families[reals[:1]] = "tiny"
    held = fit_calibration(SPEC, raw, labels, data=DATA, families=families)
    assert held.shrinkage is not None and held.shrinkage.real_sources == {}
    assert held.shrinkage.slope > 0.5
    families[reals[: len(reals) // 2]] = "tiny"  # two real halves: each is held out in turn
    halves = fit_calibration(SPEC, raw, labels, data=DATA, families=families)
    assert halves.shrinkage is not None and set(halves.shrinkage.real_sources) == {"big", "tiny"}


def test_a_calibration_carried_to_a_new_version_keeps_its_mapping_and_says_why(
    tmp_path: Path,
) -> None:
    raw, labels = gaussian_scores(300)
    earlier = fit_calibration(SPEC, raw, labels, data=DATA, method="platt")
    newer = make_spec("visual.toy", calibrated=False, version="0.0.2")
    reason = "0.0.2 reads only inputs the fit never held differently"
    carried = calibration.carried(earlier, newer, reason)
    assert carried.detector_version == "0.0.2" and carried.version != earlier.version
    assert carried.carried_from is not None and carried.carried_from.version == earlier.version
    assert carried.carried_from.detector_version == "0.0.1"
    assert carried.carried_from.reason == reason
    grid = np.linspace(-3, 5, 9)
    assert np.array_equal(carried.llr(grid), earlier.llr(grid))
    assert carried.llr_interval(1.0) == earlier.llr_interval(1.0)
    path = calibration.save(carried, tmp_path / "c.json")
    assert calibration.load(path) == carried  # the provenance survives a round trip
    evidence = Evidence.from_llr(newer, raw_score=1.0, llr=0.0)
    assert calibration.load(path).apply(evidence).calibration_version == carried.version
    with pytest.raises(BadInputError, match="already"):
        calibration.carried(earlier, SPEC, reason)
    with pytest.raises(BadInputError, match="cannot be carried"):
        calibration.carried(earlier, make_spec("visual.other", version="0.0.2"), reason)


def test_every_carried_shipped_calibration_names_an_earlier_version() -> None:
    import modalities  # noqa: F401  (registers the shipped detectors)
    from core.detector import REGISTRY

    for name in REGISTRY.names():
        spec = REGISTRY.spec(name)
        for _kind, (_path, artifact) in CalibrationStore(None).in_force(spec).items():
            if artifact.carried_from is not None:
                assert artifact.carried_from.detector_version != spec.version
                assert artifact.carried_from.version != artifact.version
