"""modalities.audio.features: backend choice, and NumPy/torchaudio parity where torchaudio loads.

torchaudio is the optional extra ``gpu`` (not installed by ``make install``: its PyPI build does not
load beside the CPU torch here). The parity tests skip with the import error as the reason where it
is missing; a missing optional extra is a documented skip, also under CI=true.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.config import load_settings
from core.errors import ConfigError
from modalities.audio import features, frontend, lfcc_gmm
from tests.modalities.audio_signals import formant_speech

TORCHAUDIO_MISSING = features.torchaudio_unavailable()
needs_torchaudio = pytest.mark.skipif(
    TORCHAUDIO_MISSING is not None, reason=f"optional extra 'gpu': {TORCHAUDIO_MISSING}"
)

# Stated tolerances (max absolute difference). LFCC: static cepstra reach about ±50, the NumPy
# path is float64 and the torchaudio path float64 too (float32 input), so differences are float32
# rounding of the input and outputs (measured 1.2e-3 on CPU). Log-mel: per-band normalised, unit
# scale, float32 on both sides (measured 2e-4 on CPU); 1e-2 leaves room for GPU FFT rounding.
LFCC_ATOL = 1e-2
LOG_MEL_ATOL = 1e-2


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return frontend.normalize_channel(formant_speech(6.0, seed=3))


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown audio feature backend"):
        features.resolve_backend("cuda")


def test_numpy_backend_is_the_reference(speech: np.ndarray) -> None:
    assert features.resolve_backend("numpy") == "numpy"
    assert np.array_equal(features.lfcc(speech, "numpy"), frontend.lfcc(speech))


@pytest.mark.skipif(TORCHAUDIO_MISSING is None, reason="torchaudio imports here")
def test_without_torchaudio_auto_is_numpy_and_an_explicit_choice_fails_clearly() -> None:
    assert features.resolve_backend("auto") == "numpy"
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[gpu\]'"):
        features.resolve_backend("torchaudio")


def test_settings_pass_a_non_default_front_end_to_the_audio_detectors(
    home: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "audio.cnn" not in load_settings().models.detector_options()
    monkeypatch.setenv("VERITY_MODELS__AUDIO_VAD", "silero")
    monkeypatch.setenv("VERITY_MODELS__AUDIO_FEATURE_BACKEND", "auto")
    options = load_settings().models.detector_options()
    assert options["audio.cnn"] == {"vad": "silero", "feature_backend": "auto"}
    assert options["audio.lfcc_gmm"] == {"vad": "silero", "feature_backend": "auto"}
    assert options["audio.artifacts"] == {"vad": "silero"}
    monkeypatch.setenv("VERITY_MODELS__AUDIO_VAD", "webrtc")
    with pytest.raises(ConfigError, match="audio_vad"):
        load_settings()


@pytest.mark.gpu
@needs_torchaudio
def test_lfcc_parity(speech: np.ndarray) -> None:
    reference = features.lfcc(speech, "numpy")
    other = features.lfcc(speech, "torchaudio")
    assert other.shape == reference.shape and other.dtype == np.float32
    assert np.abs(other - reference).max() <= LFCC_ATOL


@pytest.mark.gpu
@needs_torchaudio
def test_log_mel_parity(speech: np.ndarray) -> None:
    reference = features.log_mel(speech, "numpy")
    other = features.log_mel(speech, "torchaudio")
    assert other.shape == reference.shape and other.dtype == np.float32
    assert np.abs(other - reference).max() <= LOG_MEL_ATOL


@pytest.mark.gpu
@needs_torchaudio
@pytest.mark.parametrize("n_samples", [100, 320, 511, 513, 1000])
def test_parity_on_inputs_shorter_than_a_few_frames(n_samples: int) -> None:
    wave = formant_speech(0.1, seed=4)[:n_samples]
    for name in ("lfcc", "log_mel"):
        reference = getattr(features, name)(wave, "numpy")
        other = getattr(features, name)(wave, "torchaudio")
        assert other.shape == reference.shape
        assert np.abs(other - reference).max() <= 1e-2


@pytest.mark.gpu
@needs_torchaudio
def test_lfcc_gmm_scores_agree_across_backends(speech: np.ndarray) -> None:
    detector = lfcc_gmm.build()
    scores = {}
    for backend in ("numpy", "torchaudio"):
        feats, mask = lfcc_gmm.features_of(speech, feature_backend=backend)
        scores[backend] = float(detector.frame_scores(feats)[mask].mean())
    assert abs(scores["numpy"] - scores["torchaudio"]) <= 1e-2
