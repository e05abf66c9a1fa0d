"""core.artifacts: detector figures are kept by hash, stored with the analysis, or not at all."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile

from core import services
from core.app import Verity
from core.artifacts import MAX_ARTIFACT_BYTES, ArtifactCollector
from core.cli import main
from core.errors import DetectorError, StoreError
from tests.modalities.test_audio_frontend import SR, voiced

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_collector_keys_by_hash_and_refuses_bad_blobs() -> None:
    sink = ArtifactCollector()
    ref = sink.put("heatmap", PNG, "image/png")
    assert ref.sha256 == hashlib.sha256(PNG).hexdigest()
    assert sink.put("heatmap", PNG, "image/png") == ref
    with pytest.raises(DetectorError, match="media type"):
        sink.put("x", PNG, "text/html")
    with pytest.raises(DetectorError, match="empty"):
        sink.put("x", b"", "image/png")
    with pytest.raises(DetectorError, match="limit"):
        sink.put("x", b"\x00" * (MAX_ARTIFACT_BYTES + 1), "image/png")
    other = ArtifactCollector()
    with pytest.raises(DetectorError, match="never put"):
        other.cited([ref])


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    path = tmp_path / "speech.flac"
    soundfile.write(path, voiced(3.0, f0=120, seed=3), SR)
    return path


def test_audio_analysis_stores_its_spectrogram(verity: Verity, speech: Path, tmp_path) -> None:
    result = services.analyze(verity, speech, None, detectors=["audio.lfcc_gmm"])
    found = services.analysis_artifacts(verity, result["analysis_id"])
    assert [(a.detector, a.kind, a.media_type) for a in found] == [
        ("audio.lfcc_gmm", "spectrogram", "image/png")
    ]
    data = found[0].path.read_bytes()
    assert data.startswith(b"\x89PNG") and hashlib.sha256(data).hexdigest() == found[0].sha256
    assert main(["artifacts", result["analysis_id"], "-o", str(tmp_path / "figs")]) == 0
    copied = list((tmp_path / "figs").iterdir())
    assert len(copied) == 1 and copied[0].read_bytes() == data


def test_a_failed_analysis_write_leaves_no_figure(
    verity: Verity, speech: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "store_analysis", broken)
    with pytest.raises(RuntimeError):
        services.analyze(verity, speech, None, detectors=["audio.lfcc_gmm"])
    assert verity.artifact_store.list_hashes() == []


def test_a_tampered_figure_is_refused(verity: Verity, speech: Path) -> None:
    result = services.analyze(verity, speech, None, detectors=["audio.lfcc_gmm"])
    (item,) = services.analysis_artifacts(verity, result["analysis_id"])
    item.path.chmod(0o644)
    item.path.write_bytes(np.zeros(10, np.uint8).tobytes())
    with pytest.raises(StoreError, match="corrupt"):
        services.analysis_artifacts(verity, result["analysis_id"])
