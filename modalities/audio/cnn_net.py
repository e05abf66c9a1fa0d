"""The network and features of ``audio.cnn``: a CPU-sized CNN over normalised log-mel spectrograms.

Features: channel-normalised audio (the shared front end's MP3 round trip) → 64-band log-mel,
25 ms / 10 ms → per-band mean and variance removed over the utterance (cepstral-mean-style
normalisation: a microphone's or a room's fixed colouring is removed, so the network cannot learn
the recording channel, which is what sank the first trial of this detector). The network sees
3-second crops; four conv blocks, then mean and max pooling over time, then one logit.
"""

from __future__ import annotations

import numpy as np

from modalities.audio import frontend

N_MELS = 64
N_FFT = 512
WIN = 400
HOP = frontend.HOP
CROP = 300  # frames: 3 s
CROP_HOP = 150


def log_mel(normalized: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """(N_MELS, frames), per-band mean/variance normalised over the utterance, computed in
    ``dtype``.

    ``audio.cnn`` asks for double precision: in single precision the mel filter bank's matrix
    product and the logarithm go through vector code that differs from CPU to CPU, and moved its
    score by up to 1.3e-7 (bench/cpu_reproducibility.py); ``lipsync.syncnet`` does too since
    1.5.1. Training keeps single precision, and with it the values its weights were made from.
    """
    import librosa

    wave = np.asarray(normalized)
    if len(wave) < N_FFT:  # uncentred frames need one whole FFT frame (shorter input: 1 frame)
        wave = np.pad(wave, (0, N_FFT - len(wave)))
    mel = librosa.feature.melspectrogram(
        S=power_spectrogram(wave, dtype),
        sr=frontend.SAMPLE_RATE,
        n_fft=N_FFT,
        n_mels=N_MELS,
        fmin=20,
        fmax=frontend.SAMPLE_RATE / 2,
    )
    logmel = np.log(mel + 1e-6)
    mean = logmel.mean(axis=1, keepdims=True)
    std = logmel.std(axis=1, keepdims=True) + 1e-3
    return np.asarray((logmel - mean) / std, dtype=dtype)


STFT_BLOCK = 4096  # frames transformed at once


def power_spectrogram(wave: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """librosa's uncentred power spectrogram of ``wave`` in ``dtype`` (|STFT|², 25 ms Hann window
    in a 512-point FFT, 10 ms hop), as ``librosa.feature.melspectrogram(y=...)`` computes it and
    in its layout (Fortran order), so the mel product that follows is the same call.

    Made STFT_BLOCK frames at a time from ``wave`` cast block by block: librosa would hold the
    complex STFT of the whole and its magnitude beside the power (half a gigabyte for a
    10-minute passage in double precision). librosa transforms each frame on its own, so the
    numbers are those of one call on the whole (tests/modalities/test_audio_memory.py)."""
    import librosa

    n_frames = 1 + (len(wave) - N_FFT) // HOP
    out: np.ndarray | None = None
    for start in range(0, n_frames, STFT_BLOCK):
        stop = min(start + STFT_BLOCK, n_frames)
        piece: np.ndarray = np.asarray(wave[start * HOP : (stop - 1) * HOP + N_FFT], dtype=dtype)
        stft = librosa.stft(
            piece, n_fft=N_FFT, hop_length=HOP, win_length=WIN, window="hann", center=False
        )
        block = np.abs(stft) ** 2.0
        if out is None:
            out = np.empty((block.shape[0], n_frames), dtype=block.dtype, order="F")
        out[:, start:stop] = block
    assert out is not None  # at least one frame: the caller pads to N_FFT
    return out


def crops(features: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Overlapping CROP-frame windows (the last one flush with the end), shape (n, N_MELS, CROP)."""
    frames = features.shape[1]
    if frames < CROP:
        padded = np.pad(features, ((0, 0), (0, CROP - frames)), mode="wrap")
        return padded[None], [(0, frames)]
    starts = list(range(0, frames - CROP + 1, CROP_HOP))
    if starts[-1] != frames - CROP:
        starts.append(frames - CROP)
    return np.stack([features[:, s : s + CROP] for s in starts]), [(s, s + CROP) for s in starts]


def build_network(width: int = 16) -> object:
    """The CNN (a torch.nn.Module); built here so torch is imported only when it is needed."""
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )

    class SpeechCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                block(1, width), block(width, 2 * width), block(2 * width, 4 * width),
                block(4 * width, 4 * width),
            )  # fmt: skip
            self.dropout = nn.Dropout(0.3)
            self.head = nn.Linear(8 * width, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.body(x.unsqueeze(1)).mean(dim=2)  # (batch, channels, time)
            pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
            logits: torch.Tensor = self.head(self.dropout(pooled)).squeeze(1)
            return logits

    return SpeechCNN()
