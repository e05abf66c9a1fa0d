"""``audio.cnn``: a CPU-sized CNN on normalised log-mel, trained on real speech against the
project's own copy-synthesis pseudo-fakes and real generator outputs (``verity train audio.cnn``).

Each 3-second window (hop 1.5 s) gets a logit; the clip's raw score is their mean (over each
10-minute passage of a longer recording, the worst passage deciding: modalities.audio.passages,
version 1.1.0), and the windows make the timeline and the flagged segments of the spectrogram.
Weights are a safetensors file (no pickle), checked against their descriptor's SHA-256 before
loading.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from core.attacks import InputAttack
from core.detector import DetectorSpec, Evidence, Finding, MediaInput, Modality, SeriesPoint
from core.errors import DetectorError
from core.media import MediaKind
from core.weights import verified_weights, weights_ref
from modalities.audio import cnn_net, features, frontend, passages, plots

NAME = "audio.cnn"
# 1.1.0: a recording over 10 min read in passages; 1.1.1: the network runs in double precision
# on double-precision log-mel features, the same on every CPU to ~1e-15 (same weights; raw
# scores moved by ~2e-6, up to 1.7e-4 on quiet recordings)
VERSION = "1.1.1"
WEIGHTS_DIR = Path(__file__).parent / "weights" / f"cnn-{VERSION}"
WEIGHTS_FILE = "audio_cnn.safetensors"
MIN_SPEECH_FRAMES = 100
BATCH = 16


def _spec(folder: Path) -> DetectorSpec:
    return DetectorSpec(
        name=NAME,
        modality=Modality.AUDIO,
        version=VERSION,
        summary="CNN on channel-normalised log-mel, per 3 s window (copy-synthesis pseudo-fakes "
        "and real generator outputs in training)",
        media_kinds=frozenset({MediaKind.AUDIO, MediaKind.VIDEO}),
        resolution="segment",
        input_sample_rate=frontend.SAMPLE_RATE,
        weights=weights_ref(folder),
        licence="code Apache-2.0; weights trained on LibriSpeech (CC BY 4.0) and fake-corpus "
        "(mixed, research use)",
        paper="Frank & Schönherr, 'WaveFake', NeurIPS Datasets 2021 (copy-synthesis); "
        "Tak et al., RawNet2/AASIST line of CNN countermeasures",
    )


SPEC = _spec(WEIGHTS_DIR)


def load_network(path: Path) -> Any:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    width = int(json.loads(meta.get("config", "{}")).get("width", 16))
    network = cnn_net.build_network(width)
    try:
        network.load_state_dict(load_file(str(path)))  # type: ignore[attr-defined]
    except RuntimeError as exc:
        raise DetectorError(f"{NAME}: weights do not fit the network: {exc}") from None
    network.eval()  # type: ignore[attr-defined]
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    # Double precision: each CPU's vector code (PyTorch's kernels, oneDNN's convolutions, MKL's
    # products) rounds single-precision sums in its own order, and forced to an older CPU's code
    # the score of one file moved by 5.6e-7, half the tolerance `verity reproduce` accepts, more
    # at larger scores (bench/cpu_reproducibility.py). In double precision (features too, see
    # cnn_net.log_mel) it moves by 1.3e-15 at most, for 2.1 times the network's time (72 -> 154
    # ms for 16 windows on 2 threads).
    return network.double()  # type: ignore[attr-defined]


def window_logits(network: Any, windows: np.ndarray) -> np.ndarray:
    """Logits of log-mel windows, in the network's own precision (double for the detector's,
    single for a network still in training)."""
    import torch

    dtype = next(network.parameters()).dtype
    out = []
    with torch.inference_mode():
        for start in range(0, len(windows), BATCH):
            batch = torch.from_numpy(windows[start : start + BATCH]).to(dtype)
            out.append(network(batch).numpy())
    return np.concatenate(out).astype(np.float64)


class AudioCnnDetector:
    def __init__(
        self, weights_dir: Path | None = None, vad: str = "energy", feature_backend: str = "numpy"
    ) -> None:
        """``vad`` and ``feature_backend``: see frontend.speech_mask and features; the shipped
        weights and calibration were made with the defaults."""
        self.vad = frontend.checked_vad(vad)
        self.feature_backend = features.resolve_backend(feature_backend)
        folder = weights_dir or WEIGHTS_DIR
        path = verified_weights(NAME, folder)
        self.spec = SPEC if weights_dir is None else _spec(folder)
        self.network = load_network(path)
        # ``verity eval --attack pgd``: perturbs the standardised log-mel windows (core.attacks)
        self.adversary: InputAttack | None = None

    def analyze(self, media: MediaInput) -> Evidence:
        if media.info.audio is None:
            return frontend.no_audio_track(self.spec)
        audio = passages.analysed(media, self.vad)
        facts = [
            *frontend.front_end_findings(self.vad, self.feature_backend),
            *passages.input_findings(media, audio),
        ]
        scored = passages.scored_each(media, audio, lambda a: self._passage(a, facts))
        return passages.decided(
            self.spec, media, scored, score_label="window logit", flagged="windows"
        )

    def _passage(self, audio: passages.PassageAudio, facts: list[Finding]) -> Evidence:
        mask = audio.mask
        speech = int(mask.sum())
        findings = [
            *facts,
            frontend.speech_finding(speech, len(audio.wave) / frontend.SAMPLE_RATE),
        ]
        if speech < MIN_SPEECH_FRAMES:
            return frontend.too_little_speech(self.spec, findings)
        features_ = features.log_mel(audio.wave, self.feature_backend, np.float64)
        windows, spans = cnn_net.crops(features_)
        if self.adversary is not None:
            network, dtype = self.network, next(self.network.parameters()).dtype
            windows = self.adversary(lambda x: network(x.to(dtype)), windows, scale=1.0)
        logits = window_logits(self.network, windows)
        keep = [i for i, (a, b) in enumerate(spans) if mask[a:b].mean() >= 0.2]
        used = keep or list(range(len(spans)))
        raw = float(np.mean(logits[used]))
        step = frontend.HOP / frontend.SAMPLE_RATE
        series = tuple(
            SeriesPoint(
                start_s=audio.offset_s + spans[i][0] * step,
                end_s=audio.offset_s + spans[i][1] * step,
                score=float(logits[i]),
            )
            for i in used
        )
        findings.append(
            Finding(
                code="windows",
                value=len(used),
                message=f"{len(used)} of {len(spans)} 3 s windows hold speech",
            )
        )
        return plots.scored_evidence(
            self.spec,
            series,
            raw=raw,
            findings=findings,
            summary=f"mean window logit {raw:+.2f} over {len(used)} window(s)",
        )


def build(**overrides: Any) -> AudioCnnDetector:
    return AudioCnnDetector(**overrides)
