"""core.detector: the registry, the spec's validation and frozen Evidence."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
from pydantic import ValidationError

from core.config import MediaLimits
from core.detector import (
    REGISTRY,
    DetectorRegistry,
    DetectorSpec,
    Evidence,
    Finding,
    MediaInput,
    Modality,
    WeightsRef,
    create_detector,
    list_detectors,
    out_of_domain,
    sigmoid,
)
from core.errors import DuplicateDetectorError, UnknownDetectorError
from core.media import MediaKind, probe
from core.store import sha256_file


def make_spec(name: str = "visual.dummy", **extra) -> DetectorSpec:
    fields = {
        "name": name,
        "modality": Modality(name.split(".")[0]),
        "version": "0.0.1",
        "summary": "test",
        "media_kinds": frozenset({MediaKind.IMAGE}),
        "resolution": "clip",
        "licence": "Apache-2.0",
    }
    return DetectorSpec(**(fields | extra))


class Fixed:
    """A test detector whose LLR is given by the test (never registered outside tests)."""

    def __init__(self, spec: DetectorSpec, llr: float) -> None:
        self.spec = spec
        self.llr = llr

    def analyze(self, media: MediaInput) -> Evidence:
        return Evidence.from_llr(self.spec, raw_score=self.llr, llr=self.llr)


def test_registry_rejects_duplicates_and_unknown_names() -> None:
    registry = DetectorRegistry()
    spec = make_spec()
    registry.register(spec, lambda: Fixed(spec, 0.0))
    with pytest.raises(DuplicateDetectorError):
        registry.register(spec, lambda: Fixed(spec, 1.0))
    with pytest.raises(UnknownDetectorError, match=r"visual\.dummy"):
        registry.create("visual.other")
    assert isinstance(registry.create("visual.dummy"), Fixed)


def test_registry_filters_by_modality_and_kind() -> None:
    registry = DetectorRegistry()
    image = make_spec("visual.a")
    audio = make_spec("audio.b", media_kinds=frozenset({MediaKind.AUDIO, MediaKind.VIDEO}))
    registry.register(image, lambda: Fixed(image, 0))
    registry.register(audio, lambda: Fixed(audio, 0))
    assert [s.name for s in registry.specs(modality="audio")] == ["audio.b"]
    assert [s.name for s in registry.specs(kind=MediaKind.VIDEO)] == ["audio.b"]
    assert registry.names() == ["audio.b", "visual.a"]


def test_builtin_registry_is_explicit() -> None:
    import modalities

    assert [s.name for s in list_detectors()] == sorted(spec.name for spec, _ in modalities.BUILTIN)
    assert {"audio.lfcc_gmm", "visual.blend", "lipsync.av_offset"} <= set(REGISTRY.names())
    assert REGISTRY.spec("visual.metadata").calibrated is False
    assert create_detector("visual.metadata").spec.name == "visual.metadata"


def test_spec_validation() -> None:
    with pytest.raises(ValidationError, match="modality"):
        make_spec("visual.x", modality=Modality.AUDIO)
    with pytest.raises(ValidationError):
        make_spec("visual.Bad Name")
    with pytest.raises(ValidationError):
        WeightsRef(path="w.pt", sha256="not-a-hash", source="x")


def test_evidence_is_frozen_finite_and_stamped() -> None:
    spec = make_spec(
        weights=WeightsRef(path="w.pt", sha256="ab" * 32, source="trained"),
        calibration_version="cal-3",
        calibrated=True,
    )
    evidence = Evidence.from_llr(spec, raw_score=2.0, llr=math.log(3))
    assert evidence.detector == "visual.dummy" and evidence.version == "0.0.1"
    assert evidence.weights_sha256 == "ab" * 32 and evidence.calibration_version == "cal-3"
    assert evidence.p_fake == pytest.approx(0.75)
    with pytest.raises(ValidationError):
        evidence.llr = 1.0  # type: ignore[misc]
    with pytest.raises(ValidationError, match="finite"):
        Evidence.from_llr(spec, raw_score=float("nan"), llr=0.0)


def test_out_of_domain_evidence_is_neutral_and_says_why() -> None:
    spec = make_spec()
    plain = out_of_domain(spec, "no face found")
    assert plain == Evidence.from_llr(
        spec, raw_score=0.0, llr=0.0, out_of_domain="no face found", summary="no face found"
    )
    fact = Finding(code="frames", value=3, message="frames scanned")
    told = out_of_domain(spec, "too short", summary="nothing to judge", findings=[fact])
    assert told.out_of_domain == "too short" and told.summary == "nothing to judge"
    assert told.findings == (fact,) and told.p_fake == 0.5 and told.detector == spec.name


def test_sigmoid_is_stable_for_large_values() -> None:
    assert sigmoid(-1000) == 0.0 and sigmoid(1000) == 1.0 and sigmoid(0) == 0.5


def test_channel_chunks_keep_the_channels_the_soundtrack_mixes(tmp_path: Path) -> None:
    """A stereo file read with its channels apart: left and right as written, in chunks, over
    the same span as the mono soundtrack (which mixes them)."""
    rng = np.random.default_rng(0)
    left = (0.2 * rng.standard_normal(40_000)).astype(np.float32)
    right = np.zeros_like(left)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16_000, subtype="FLOAT")
    media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
    chunks = list(media.channel_chunks(sample_rate=16_000, max_s=60.0, chunk_s=1.0))
    assert [c.shape for c in chunks][:2] == [(2, 16_000), (2, 16_000)]
    both = np.concatenate(chunks, axis=1)
    assert np.allclose(both[0], left, atol=1e-6) and not both[1].any()
    assert len(media.soundtrack(max_s=60.0)) == both.shape[1]
