"""The torchaudio backend of modalities.audio.features; imported only where torchaudio loads.

Each function mirrors its NumPy reference parameter for parameter (window, hop, FFT size,
filterbank, DCT, deltas, normalisation), so that the two agree to float32 rounding; the parity
test says how closely. Work runs on CUDA when torch sees a device, else on the CPU.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
import torchaudio

from modalities.audio import cnn_net, frontend

N_CEPS = 20
N_LFCC_FILTERS = 20


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@functools.cache
def _lfcc_parts(dev: str) -> tuple[Any, torch.Tensor, torch.Tensor]:
    spectrogram = torchaudio.transforms.Spectrogram(
        n_fft=frontend.N_FFT,
        win_length=frontend.WIN,
        hop_length=frontend.HOP,
        # np.hanning is the symmetric Hann window
        window_fn=functools.partial(torch.hann_window, periodic=False),
        power=2.0,
        center=False,
    ).to(dev)
    bank = torchaudio.functional.linear_fbanks(
        n_freqs=frontend.N_FFT // 2 + 1,
        f_min=0.0,
        f_max=frontend.SAMPLE_RATE / 2,
        n_filter=N_LFCC_FILTERS,
        sample_rate=frontend.SAMPLE_RATE,
    ).to(dev)  # (freqs, filters)
    dct = torchaudio.functional.create_dct(N_CEPS, N_LFCC_FILTERS, norm="ortho").to(dev)
    return spectrogram, bank, dct


def lfcc(wave: np.ndarray) -> np.ndarray:
    """Same as frontend.lfcc: (frames, 60) float32."""
    dev = str(device())
    spectrogram, bank, dct = _lfcc_parts(dev)
    samples = np.asarray(wave, np.float32)
    if len(samples) < frontend.WIN:
        samples = np.pad(samples, (0, frontend.WIN - len(samples)))
    # torch.stft centres the WIN-sample window inside each N_FFT frame; padding by the difference
    # makes frame i cover samples i·HOP … i·HOP + WIN, as the NumPy framing does (the shift
    # inside the FFT frame changes only the phase, not the power)
    side = (frontend.N_FFT - frontend.WIN) // 2
    samples = np.pad(samples, (side, side))
    with torch.inference_mode():
        x = torch.from_numpy(samples).to(dev, torch.float64)
        power = spectrogram.double()(x)  # (freqs, frames)
        energies = torch.log(bank.double().T @ power + 1e-10)  # (filters, frames)
        ceps = (energies.T @ dct.double()).T  # (n_ceps, frames)
        delta = torchaudio.functional.compute_deltas(ceps, win_length=3)
        delta2 = torchaudio.functional.compute_deltas(delta, win_length=3)
        out = torch.cat([ceps, delta, delta2], dim=0).T
    return np.asarray(out.float().cpu().numpy(), dtype=np.float32)


@functools.cache
def _mel(dev: str) -> Any:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=frontend.SAMPLE_RATE,
        n_fft=cnn_net.N_FFT,
        win_length=cnn_net.WIN,
        hop_length=cnn_net.HOP,
        f_min=20.0,
        f_max=frontend.SAMPLE_RATE / 2,
        n_mels=cnn_net.N_MELS,
        window_fn=torch.hann_window,  # periodic, as librosa's default "hann"
        power=2.0,
        center=False,
        norm="slaney",
        mel_scale="slaney",  # librosa's default (htk=False)
    ).to(dev)


def log_mel(normalized: np.ndarray) -> np.ndarray:
    """Same as cnn_net.log_mel: (64, frames) float32, per-band mean/variance normalised."""
    dev = str(device())
    samples = np.asarray(normalized, np.float32)
    if len(samples) < cnn_net.N_FFT:
        samples = np.pad(samples, (0, cnn_net.N_FFT - len(samples)))
    with torch.inference_mode():
        mel = _mel(dev)(torch.from_numpy(samples).to(dev))
        logmel = torch.log(mel + 1e-6)
        mean = logmel.mean(dim=1, keepdim=True)
        std = logmel.std(dim=1, keepdim=True, correction=0) + 1e-3
        out = (logmel - mean) / std
    return np.asarray(out.cpu().numpy(), dtype=np.float32)
