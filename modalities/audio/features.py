"""One feature interface (LFCC, log-mel) with two backends: NumPy/librosa and torchaudio.

The NumPy path (modalities.audio.frontend.lfcc, modalities.audio.cnn_net.log_mel) is the reference:
the shipped detectors were trained and calibrated on it, and it runs everywhere. The torchaudio
path computes the same features with torch tensors, on the GPU when there is one; it is there for
machines with the optional ``gpu`` extra (``pip install -e '.[gpu]'``), and tests/modalities/
test_audio_features.py holds both to a stated tolerance where torchaudio imports.

Backends: ``numpy``; ``torchaudio``; ``auto`` (torchaudio when it imports, else numpy). The shipped
detectors default to ``numpy`` (setting ``models.audio_feature_backend``) until the parity test has
run on the GPU machine, so that a score never changes because a package happens to be installed.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from core.errors import ConfigError
from modalities.audio import cnn_net, frontend

BACKENDS = ("auto", "numpy", "torchaudio")


@functools.cache
def torchaudio_unavailable() -> str | None:
    """Why torchaudio cannot be used here, or None when it can.

    Importing it can fail with more than ImportError: a CUDA build beside the CPU torch raises
    OSError while loading its libraries (see ../shared/STACK.md)."""
    try:
        import torchaudio  # noqa: F401
    except Exception as exc:
        return f"torchaudio is not importable ({type(exc).__name__}: {str(exc)[:200]})"
    return None


def resolve_backend(name: str) -> str:
    """``numpy`` or ``torchaudio`` for a backend setting; an explicit ``torchaudio`` that cannot
    load is a configuration error, not a silent fallback."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown audio feature backend {name!r}; choose {', '.join(BACKENDS)}")
    if name == "numpy":
        return "numpy"
    reason = torchaudio_unavailable()
    if name == "torchaudio" and reason:
        raise ConfigError(
            f"audio feature backend 'torchaudio' selected but {reason}; install the optional "
            "extra with `pip install -e '.[gpu]'` or choose 'numpy'"
        )
    return "numpy" if reason else "torchaudio"


def lfcc(wave: np.ndarray, backend: str = "numpy", dtype: type = np.float32) -> np.ndarray:
    """LFCC with deltas, (frames, 60) as ``dtype``, from the chosen backend: the NumPy one
    computes in double precision (see frontend.lfcc), torchaudio in single precision."""
    if resolve_backend(backend) == "numpy":
        return frontend.lfcc(wave, dtype=dtype)
    return np.asarray(_torchaudio().lfcc(wave), dtype=dtype)


def log_mel(normalized: np.ndarray, backend: str = "numpy", dtype: type = np.float32) -> np.ndarray:
    """audio.cnn's normalised 64-band log-mel, (64, frames), from the chosen backend: the NumPy
    one computes in ``dtype`` (see cnn_net.log_mel), torchaudio in single precision."""
    if resolve_backend(backend) == "numpy":
        return cnn_net.log_mel(normalized, dtype)
    return np.asarray(_torchaudio().log_mel(normalized), dtype=dtype)


def _torchaudio() -> Any:
    from modalities.audio import features_torchaudio

    return features_torchaudio
