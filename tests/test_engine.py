"""core.engine: plan, run, record failures, report through the hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import FusionSettings, MediaLimits
from core.detector import DetectorRegistry, Evidence, MediaInput
from core.engine import build_analysis, run_detectors
from core.errors import UnknownDetectorError
from core.fusion import Verdict
from core.hooks import RecordingHook
from core.media import MediaKind, probe
from core.store import sha256_file
from tests.test_detector import Fixed, make_spec


class Exploding:
    def __init__(self) -> None:
        self.spec = make_spec("visual.exploding")

    def analyze(self, media: MediaInput) -> Evidence:
        raise RuntimeError("weights file unreadable")


class Impostor:
    """Returns evidence stamped with another detector's name."""

    def __init__(self) -> None:
        self.spec = make_spec("visual.impostor")

    def analyze(self, media: MediaInput) -> Evidence:
        return Evidence.from_llr(make_spec("visual.someone_else"), raw_score=0, llr=0)


@pytest.fixture
def photo_input(photo: Path) -> MediaInput:
    return MediaInput(path=photo, sha256=sha256_file(photo), info=probe(photo, MediaLimits()))


def registry() -> DetectorRegistry:
    reg = DetectorRegistry()
    strong = make_spec("visual.strong", calibrated=True)
    audio = make_spec("audio.voice", media_kinds=frozenset({MediaKind.AUDIO}))
    reg.register(strong, lambda: Fixed(strong, 5.0))
    reg.register(audio, lambda: Fixed(audio, -5.0))
    reg.register(make_spec("visual.exploding"), Exploding)
    reg.register(make_spec("visual.impostor"), Impostor)
    return reg


def test_runs_applicable_detectors_and_records_failures(photo_input: MediaInput) -> None:
    hook = RecordingHook()
    run = run_detectors(
        registry(), photo_input, names=None, fusion_settings=FusionSettings(), hook=hook
    )
    by_name = {o.spec.name: o for o in run.outcomes}
    assert set(by_name) == {"visual.strong", "visual.exploding", "visual.impostor"}
    assert by_name["visual.strong"].status == "ok"
    assert by_name["visual.exploding"].status == "error"
    assert "weights file unreadable" in (by_name["visual.exploding"].reason or "")
    assert by_name["visual.impostor"].status == "error"
    assert "stamped" in (by_name["visual.impostor"].reason or "")
    # only the working detector reaches fusion
    assert [c.detector for c in run.fusion.contributions] == ["visual.strong"]
    assert run.fusion.verdict is Verdict.MANIPULATED
    steps = [call[0] for call in hook.calls]
    assert steps[-2:] == ["fuse", "done"]
    assert {s for s in steps if s.startswith("detect:")} == {
        "detect:visual.strong",
        "detect:visual.exploding",
        "detect:visual.impostor",
    }
    assert hook.calls[-1][1] == hook.calls[-1][2]  # completed == total at the end


def test_named_detector_for_another_kind_is_skipped(photo_input: MediaInput) -> None:
    run = run_detectors(
        registry(), photo_input, names=["audio.voice"], fusion_settings=FusionSettings()
    )
    (outcome,) = run.outcomes
    assert outcome.status == "skipped" and "audio" in (outcome.reason or "")
    assert run.fusion.p_fake is None
    with pytest.raises(UnknownDetectorError):
        run_detectors(
            registry(), photo_input, names=["visual.none"], fusion_settings=FusionSettings()
        )


def test_build_analysis_keeps_every_outcome(photo_input: MediaInput) -> None:
    run = run_detectors(registry(), photo_input, names=None, fusion_settings=FusionSettings())
    analysis = build_analysis(
        run, case_id="c", media_id="m", actor="a", fusion_settings=FusionSettings()
    )
    assert [r.position for r in analysis.results] == [0, 1, 2]
    ok = next(r for r in analysis.results if r.status == "ok")
    assert ok.evidence is not None and ok.evidence["detector"] == "visual.strong"
    assert ok.p_fake == pytest.approx(1 / (1 + 2.718281828459045**-5), rel=1e-6)
    failed = [r for r in analysis.results if r.status == "error"]
    assert all(r.raw_score is None and r.fusion_weight == 0.0 for r in failed)
    assert analysis.verdict == "manipulated" and analysis.fusion_rule == run.fusion.rule


def test_a_calibration_applies_only_to_the_media_kinds_it_was_fitted_on(
    photo_input: MediaInput, tmp_path: Path
) -> None:
    import numpy as np

    from core.calibration import CalibrationStore, fit_calibration, save, user_path

    spec = make_spec("visual.plain", media_kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO}))
    reg = DetectorRegistry()
    reg.register(spec, lambda: Fixed(spec, 0.8))
    raw = np.r_[np.linspace(0, 0.6, 20), np.linspace(0.4, 1.0, 20)]
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    data = {"manifest": "m.csv", "manifest_sha256": "0" * 64, "root": "r"}
    for kinds, calibrated in (((), True), (("image",), True), (("video",), False)):
        artifact = fit_calibration(spec, raw, labels, data=data, media_kinds=kinds)
        home = tmp_path / "-".join(kinds or ("any",))
        save(artifact, user_path(home, spec, kinds[0] if kinds else None))
        run = run_detectors(
            reg,
            photo_input,
            names=None,
            fusion_settings=FusionSettings(),
            calibrations=CalibrationStore(home),
        )
        (outcome,) = run.outcomes
        assert outcome.evidence is not None and outcome.evidence.calibrated is calibrated, kinds
        assert (run.fusion.p_fake_interval is not None) is calibrated


class InParts:
    """Works through its input in three parts, reporting each, then fails if told to."""

    def __init__(self, fail: bool = False) -> None:
        self.spec = make_spec("visual.parts")
        self.fail = fail

    def analyze(self, media: MediaInput) -> Evidence:
        for part in range(3):
            media.progress(part, 3, f"part {part + 1} of 3")
        if self.fail:
            raise RuntimeError("part 3 unreadable")
        return Evidence.from_llr(self.spec, raw_score=0, llr=0)


@pytest.mark.parametrize("fail", [False, True])
def test_a_detector_reports_its_own_parts_through_the_hook(
    photo_input: MediaInput, fail: bool
) -> None:
    """A detector's progress within its step reaches the analysis' hook as a fraction of that
    step with its detail (the CLI bar, a job's state and the dashboard move while it works); the
    engine stops listening when the detector returns or fails."""
    reg = DetectorRegistry()
    strong = make_spec("visual.strong")
    reg.register(strong, lambda: Fixed(strong, 1.0))
    reg.register(make_spec("visual.parts"), lambda: InParts(fail))
    hook = RecordingHook()
    run = run_detectors(reg, photo_input, names=None, fusion_settings=FusionSettings(), hook=hook)
    position = [o.spec.name for o in run.outcomes].index("visual.parts")
    assert run.outcomes[position].status == ("error" if fail else "ok")
    parts = [(c[1], c[2], c[3]) for c in hook.calls if c[0] == "detect:visual.parts"]
    assert parts == [
        (position, 3, None),
        (position, 3, "part 1 of 3"),
        (pytest.approx(position + 1 / 3), 3, "part 2 of 3"),
        (pytest.approx(position + 2 / 3), 3, "part 3 of 3"),
    ]
    calls = len(hook.calls)
    photo_input.progress(1, 2, "after the analysis")  # nobody listens any more
    assert len(hook.calls) == calls
    heard: list[str] = []
    with photo_input.listening(lambda fraction, detail: heard.append(detail)):
        photo_input.progress(1, 2, "a listener of its own")
    assert heard == ["a listener of its own"]
