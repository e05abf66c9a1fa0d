"""Silero VAD, a small neural voice-activity detector, run from its shipped safetensors weights.

Why not the ``silero-vad`` package: its audio helpers pull torchaudio, which does not load beside
the CPU torch Verity pins, and its default model is TorchScript (code inside the weights file). The
wheel also ships ``silero_vad_16k.safetensors`` (MIT): plain tensors, no code. The network below is
the same architecture (the wheel's ``tinygrad_model.py``) in torch, so the weights are data, checked
against their SHA-256 before loading like every other Verity weights file.

The model scores 32 ms chunks (512 samples at 16 kHz, with the previous 64 samples as context) and
carries an LSTM state from chunk to chunk. Audio is fed in windows of ``WINDOW_CHUNKS`` chunks, so
memory stays bounded however long the stream is; the state and context cross window borders, so
the result does not depend on the window size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.weights import verified_weights

NAME = "audio.vad.silero"
WEIGHTS_DIR = Path(__file__).parent / "weights" / "silero_vad-6.2.3"
SAMPLE_RATE = 16_000
CHUNK = 512  # samples scored at once (32 ms)
CONTEXT = 64  # samples of the previous chunk the model sees
WINDOW_CHUNKS = 1875  # 60 s per window: the bound on working memory
THRESHOLD = 0.5  # silero's default speech probability threshold

_NETWORKS: dict[Path, Any] = {}
_LSTM_KEYS = {
    f"lstm_cell.{part}": f"lstm.{part}_l0"
    for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
}


def build_network() -> Any:
    """The silero 16 kHz VAD as a torch module (an STFT by convolution, four convs, an LSTM)."""
    import torch
    from torch import nn

    class SileroVad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stft_conv = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
            self.conv1 = nn.Conv1d(129, 128, 3, padding=1)
            self.conv2 = nn.Conv1d(128, 64, 3, stride=2, padding=1)
            self.conv3 = nn.Conv1d(64, 64, 3, stride=2, padding=1)
            self.conv4 = nn.Conv1d(64, 128, 3, padding=1)
            # the weights name an LSTMCell stepped chunk by chunk; one nn.LSTM over the sequence
            # is the same recurrence in one call (see load_network for the renamed keys)
            self.lstm = nn.LSTM(128, 128)
            self.final_conv = nn.Conv1d(128, 1, 1)

        def encode(self, chunks: torch.Tensor) -> torch.Tensor:
            """(n, CONTEXT + CHUNK) samples → (n, 128) features; chunks are independent here."""
            x = nn.functional.pad(chunks.unsqueeze(1), (0, 64), mode="reflect")
            x = self.stft_conv(x)
            x = torch.sqrt(x[:, :129] ** 2 + x[:, 129:] ** 2)
            for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
                x = torch.relu(conv(x))
            return x.squeeze(-1)

        def forward(
            self, chunks: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
        ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
            """Speech probability per chunk, in order, carrying the LSTM state across chunks."""
            features = self.encode(chunks)
            hidden, (h, c) = self.lstm(features.unsqueeze(1), state)  # (n, 1, 128)
            h_all = torch.relu(hidden.squeeze(1).unsqueeze(-1))  # (n, 128, 1)
            probs = torch.sigmoid(self.final_conv(h_all)).squeeze(1).mean(dim=1)
            return probs, (h, c)

    return SileroVad()


def load_network(folder: Path | None = None) -> Any:
    """The network with its weights, after their SHA-256 was checked; cached per folder."""
    folder = folder or WEIGHTS_DIR
    if folder not in _NETWORKS:
        from safetensors.torch import load_file

        path = verified_weights(NAME, folder)
        network = build_network()
        tensors = {_LSTM_KEYS.get(key, key): value for key, value in load_file(str(path)).items()}
        network.load_state_dict(tensors)
        network.eval()
        _NETWORKS[folder] = network
    return _NETWORKS[folder]


def stream_probabilities(
    blocks: Iterable[np.ndarray], folder: Path | None = None
) -> Iterator[np.ndarray]:
    """Speech probability of each 32 ms chunk of a 16 kHz mono stream given in blocks of any size.

    Yields one array per window of up to ``WINDOW_CHUNKS`` chunks; a last partial chunk is padded
    with zeros. Only one window of samples is held at a time.
    """
    import torch

    network = load_network(folder)
    state: tuple[torch.Tensor, torch.Tensor] | None = None
    context = np.zeros(CONTEXT, np.float32)
    pending = np.zeros(0, np.float32)

    def run(samples: np.ndarray) -> np.ndarray:
        nonlocal state, context
        n = len(samples) // CHUNK
        body = samples[: n * CHUNK].reshape(n, CHUNK)
        previous = np.concatenate([context[None], body[:-1, -CONTEXT:]])
        batch = torch.from_numpy(np.ascontiguousarray(np.concatenate([previous, body], axis=1)))
        context = body[-1, -CONTEXT:].copy()
        with torch.inference_mode():
            probs, state = network(batch, state)
        return np.asarray(probs.numpy(), dtype=np.float32)

    window = WINDOW_CHUNKS * CHUNK
    parts: list[np.ndarray] = []
    held = 0
    for block in blocks:
        samples = np.asarray(block, np.float32).reshape(-1)
        parts.append(samples)
        held += len(samples)
        if held < window:
            continue
        pending = np.concatenate(parts)
        while len(pending) >= window:
            yield run(pending[:window])
            pending = pending[window:]
        parts, held = [pending], len(pending)
    pending = np.concatenate(parts) if parts else pending
    if len(pending):
        padded = np.pad(pending, (0, -len(pending) % CHUNK))
        yield run(padded)


def chunk_probabilities(wave: np.ndarray, folder: Path | None = None) -> np.ndarray:
    """Speech probability per 32 ms chunk of a whole 16 kHz mono wave."""
    window = WINDOW_CHUNKS * CHUNK
    blocks = (wave[i : i + window] for i in range(0, len(wave), window))
    out = list(stream_probabilities(blocks, folder))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def frame_probabilities(chunk_probs: np.ndarray, n_frames: int, win: int, hop: int) -> np.ndarray:
    """Chunk probabilities on a frame grid: frame i (samples ``i·hop … i·hop + win``) takes the
    probability of the chunk holding its centre."""
    if n_frames == 0 or len(chunk_probs) == 0:
        return np.zeros(n_frames, np.float32)
    centres = np.arange(n_frames) * hop + win // 2
    index = np.minimum(centres // CHUNK, len(chunk_probs) - 1)
    return np.asarray(chunk_probs[index], dtype=np.float32)
