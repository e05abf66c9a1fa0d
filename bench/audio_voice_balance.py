"""Does the LFCC-GMM learn *who speaks* instead of *how the speech was made*?

Many of fake-corpus's fakes speak in the voice of the LJSpeech reader (Tacotron 2, Glow-TTS,
VITS, FastSpeech, HiFi-GAN copy-synthesis …: the demo pages' single-speaker sections), while 11
of its ~410 reals are LJSpeech and 346 are LibriSpeech. A model can then separate the classes by
voice, and real LJSpeech, or any voice that resembles it, is called fake.

Each file's *voice* is read from its manifest row (notes, generator, file name): ``ljspeech``,
``vctk``, ``libritts`` or ``librispeech`` when the row names that corpus (a fake made in that
voice, or a real recording of it), ``other`` otherwise. Two trainings:

- ``as shipped``: every file gives the mixtures the same number of frames (the recipe);
- ``voice-balanced``: within each voice that has both classes in the training fold, the smaller
  class's frames are multiplied until both classes weigh the same (at most ×``--cap``), so the
  voice itself says nothing about the class.

Two validations, 5 folds: ``corpus`` (bench/audio_pretrained_frontends.py: every real corpus but
LibriSpeech held out whole; fakes by generator) and ``voice`` (every named voice held out whole,
reals and fakes together; the rest as in ``corpus``): the second asks whether real and fake are
told apart in a voice the model never heard. Columns: pooled AUC and EER, and AUC inside each
named voice (its fakes against its reals). Prints Markdown rows, then, for the shipped recipe
under ``corpus``, every fake against each voice's reals.

    .venv/bin/python bench/audio_voice_balance.py [--band 4000 8000 | --model artifacts]
    .venv/bin/python bench/audio_voice_balance.py --dims dynamic   # deltas only
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import scipy.fft
from audio_pretrained_frontends import FOLDERS, regrouped

from core import metrics
from modalities.audio import frontend
from modalities.audio.gmm import DiagGMM
from modalities.audio.training import lfcc_gmm, pseudo
from modalities.audio.training import synthesis_traces as traces
from modalities.audio.training.data import LabeledAudio

VOICES = ("ljspeech", "vctk", "libritts", "librispeech")
KEYS = {"ljspeech": ("ljspeech", "lj0"), "vctk": ("vctk",), "libritts": ("libritts",),
        "librispeech": ("librispeech",)}  # fmt: skip


def band_features(task: tuple[pseudo.Job, float, float]) -> np.ndarray:
    """The recipe's features (channel-normalised LFCC + deltas, per-file mean removed, speech
    frames, capped) with the 20 linear filters spread over [lo, hi] Hz instead of 0–8 kHz."""
    job, lo, hi = task
    if lo <= 0 and hi >= frontend.SAMPLE_RATE / 2:
        return lfcc_gmm.extract(job)
    wave = frontend.normalize_channel(pseudo.wave(job, lfcc_gmm.MAX_SECONDS))
    freqs = np.linspace(0, frontend.SAMPLE_RATE / 2, frontend.N_FFT // 2 + 1)
    edges = np.linspace(lo, hi, 22)
    bank = np.stack([
        np.clip(np.minimum((freqs - a) / (b - a), (c - freqs) / (c - b)), 0, None)
        for a, b, c in zip(edges[:-2], edges[1:-1], edges[2:], strict=True)
    ])  # fmt: skip
    energies = np.log(bank @ frontend.power_spectrogram(wave) + 1e-10)
    ceps = scipy.fft.dct(energies, type=2, norm="ortho", axis=0)[:20]
    delta = frontend._deltas(ceps)
    feats = np.concatenate([ceps, delta, frontend._deltas(delta)], axis=0).T
    mask = frontend.speech_mask(wave)[: len(feats)]
    if mask.any():
        feats = feats - feats[mask].mean(axis=0, keepdims=True)
    speech = feats[mask] if mask.sum() >= 20 else feats
    if len(speech) > lfcc_gmm.MAX_FRAMES:
        speech = speech[np.linspace(0, len(speech) - 1, lfcc_gmm.MAX_FRAMES).astype(int)]
    return speech.astype(np.float32)


def voices_of(folders: list[Path]) -> dict[Path, str]:
    """Each audio file's voice, from the words of its manifest row."""
    out: dict[Path, str] = {}
    for folder in folders:
        with (folder / "manifest.csv").open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                text = " ".join(row.get(k) or "" for k in ("notes", "generator", "file")).lower()
                named = [v for v in VOICES if any(k in text for k in KEYS[v])]
                if "label" not in row:  # train-corpus speech: LibriSpeech
                    named = ["librispeech"]
                out[(folder / row["file"]).resolve()] = named[0] if named else "other"
    return out


def frame_weights(labels: np.ndarray, voices: np.ndarray, balanced: bool, cap: float) -> np.ndarray:
    weights = np.ones(len(labels))
    if not balanced:
        return weights
    for voice in VOICES:
        real = (voices == voice) & (labels == 0)
        fake = (voices == voice) & (labels == 1)
        if not real.any() or not fake.any():
            continue
        ratio = fake.sum() / real.sum()
        if ratio > 1:
            weights[real] = min(ratio, cap)
        else:
            weights[fake] = min(1 / ratio, cap)
    return weights


def fit(feats: list[np.ndarray], labels: np.ndarray, weights: np.ndarray, seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)

    def stack(cls: int) -> np.ndarray:
        parts = []
        for i in np.flatnonzero(labels == cls):
            n = max(1, round(lfcc_gmm.FIT_FRAMES * weights[i]))
            f = feats[i]
            parts.append(f[rng.choice(len(f), n, replace=n > len(f))])
        return np.concatenate(parts)

    return DiagGMM.fit(stack(0), 64, seed), DiagGMM.fit(stack(1), 64, seed)


def main() -> None:
    from sklearn.model_selection import GroupKFold

    parser = argparse.ArgumentParser()
    parser.add_argument("--cap", type=float, default=8.0)
    parser.add_argument("--band", type=float, nargs=2, default=(0.0, 8000.0), metavar=("LO", "HI"))
    parser.add_argument("--model", choices=("gmm", "artifacts"), default="gmm")
    parser.add_argument(
        "--dims",
        choices=("all", "static", "dynamic"),
        default="all",
        help="LFCC columns the GMMs see: all 60, the 20 static cepstra, or the 40 deltas and "
        "delta-deltas (less tied to speaker and channel; Sahidullah et al. 2015)",
    )
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    work, _ = pseudo.plan(FOLDERS, 0, [])
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        if args.model == "gmm":
            feats = list(pool.map(band_features, [(j, *args.band) for j in work], chunksize=4))
        else:  # audio.artifacts' traces; files with under 0.5 s of speech have none
            found = list(pool.map(traces.extract, [j.item for j in work], chunksize=4))
            work = [j for j, f in zip(work, found, strict=True) if f is not None]
            feats = [f for f in found if f is not None]
    if args.model == "gmm" and args.dims != "all":
        columns = slice(0, 20) if args.dims == "static" else slice(20, 60)
        feats = [np.ascontiguousarray(f[:, columns]) for f in feats]
    items: list[LabeledAudio] = [j.item for j in work]
    voice_map = voices_of(FOLDERS)
    voices = np.array([voice_map[i.path] for i in items])
    y = np.array([i.label for i in items])
    for voice in (*VOICES, "other"):
        m = voices == voice
        print(f"voice {voice}: {(m & (y == 0)).sum()} real, {(m & (y == 1)).sum()} fake")
    named = [v for v in VOICES if len(set(y[voices == v])) == 2]
    print()
    print("| training | validation | AUC | EER | " + " | ".join(f"in {v}" for v in named) + " |")
    print("|---|---|---|---|" + "---|" * len(named))
    notes = []
    for protocol in ("corpus", "voice"):
        data = [regrouped(i) for i in items]
        if protocol == "voice":
            data = [
                dataclasses.replace(d, group=f"voice:{v}") if v in named else d
                for d, v in zip(data, voices, strict=True)
            ]
        groups = np.array([d.group for d in data])
        for arm in ("as shipped", "voice-balanced"):
            oof = np.zeros(len(items))
            for k, (train, test) in enumerate(GroupKFold(5).split(feats, y, groups)):
                w = frame_weights(y[train], voices[train], arm != "as shipped", args.cap)
                if args.model == "gmm":
                    pair = fit([feats[i] for i in train], y[train], w, k)
                    for i in test:
                        oof[i] = lfcc_gmm._score(pair, feats[i])
                else:  # weights as whole repeats of a row
                    rows = np.repeat(train, np.maximum(1, np.round(w)).astype(int))
                    head = traces.fit_head(np.stack([feats[i] for i in rows]), y[rows], 0)
                    for i in test:
                        oof[i] = head.score(feats[i])
            inside = []
            for v in named:
                m = voices == v
                inside.append(f"{metrics.auc(oof[m], y[m]):.3f}")
            pooled = f"{metrics.auc(oof, y):.3f} | {metrics.eer(oof, y)[0]:.3f}"
            print(
                f"| {arm} | {protocol} | {pooled} | " + " | ".join(inside) + " |",
                flush=True,
            )
            if protocol == "corpus" and arm == "as shipped":  # every fake against each voice
                for v in named:
                    m = (y == 1) | ((voices == v) & (y == 0))
                    median = float(np.median(oof[(voices == v) & (y == 0)]))
                    auc = metrics.auc(oof[m], y[m])
                    notes.append(
                        f"{v} reals: median {median:+.2f}, all fakes against them {auc:.3f}"
                    )
                notes.append(f"fakes: median score {float(np.median(oof[y == 1])):+.2f}")
    print()
    print("corpus protocol, as shipped:", *notes, sep="\n  ")


if __name__ == "__main__":
    main()
