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

    wave: np.ndarray = normalized.astype(dtype)
    if len(wave) < N_FFT:  # uncentred frames need one whole FFT frame (shorter input: 1 frame)
        wave = np.pad(wave, (0, N_FFT - len(wave)))
    mel = librosa.feature.melspectrogram(
        y=wave,
        sr=frontend.SAMPLE_RATE,
        n_fft=N_FFT,
        win_length=WIN,
        hop_length=HOP,
        n_mels=N_MELS,
        fmin=20,
        fmax=frontend.SAMPLE_RATE / 2,
        center=False,
    )
    logmel = np.log(mel + 1e-6)
    mean = logmel.mean(axis=1, keepdims=True)
    std = logmel.std(axis=1, keepdims=True) + 1e-3
    return np.asarray((logmel - mean) / std, dtype=dtype)


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
