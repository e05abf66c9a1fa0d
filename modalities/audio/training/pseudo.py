"""Pseudo-fakes the audio recipes make from real speech: one per real file of a folder without
labels (e.g. the LibriSpeech part of ../shared/train-corpus), round robin over the methods.

Copy-synthesis methods re-render that file (``synthesis.copy_synthesis``, and
``neural_vocoder``: the lab's own trained neural vocoder, ``synthesis.vocoder``, given as a model
file); text-to-speech engines speak other words in a machine voice (``synthesis.tts_engines``).
Each method is its own group (``pseudo:<method>``), so validation always holds a whole method out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import BadInputError
from core.sound import decode_audio
from core.training import read_folder
from modalities.audio.synthesis import copy_synthesis, tts_engines
from modalities.audio.training.data import LabeledAudio, collect

SAMPLE_RATE = 16_000
NEURAL_VOCODER = "neural_vocoder"
METHODS = (*sorted(copy_synthesis.METHODS), NEURAL_VOCODER, *tts_engines.ENGINES)
MIN_SECONDS = 0.2  # shorter decoded audio (a cut-off or empty file) holds no usable speech


def too_short(wave: np.ndarray) -> bool:
    """Whether a job's wave is too short to train on: its file is then left out (features
    None), and a data set left without usable files is refused in one line by the
    cross-validation check, rather than ending inside a model fit or training on nothing."""
    return len(wave) < MIN_SECONDS * SAMPLE_RATE


@dataclass(frozen=True)
class Job:
    item: LabeledAudio
    method: str | None  # pseudo-fake method applied for a real file, or None
    squeeze: bool  # extra 32 kbit/s MP3 round trip first (audio.cnn's augmentation)
    seed: int
    model: tuple[str, str] | None = None  # neural_vocoder: model file and its SHA-256


def check(methods: list[str], vocoder_model: Path | None = None) -> list[str]:
    """``methods`` validated: known names, at least one, the TTS programs installed and, for
    ``neural_vocoder``, a model file named (``model_ref`` loads it)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        known = ", ".join(METHODS)
        raise BadInputError(f"--pseudo: unknown {', '.join(unknown) or '(none)'}; known: {known}")
    tts_engines.require([m for m in methods if m in tts_engines.ENGINES])
    if NEURAL_VOCODER in methods and vocoder_model is None:
        raise BadInputError(
            "--pseudo neural_vocoder needs --vocoder-model (verity lab vocoder train)"
        )
    return methods


def model_ref(path: Path) -> tuple[str, str]:
    """What a job carries to find the vocoder in a worker process: path and SHA-256 (the model is
    loaded here, so a bad file fails before any work)."""
    from modalities.audio.synthesis import vocoder

    return str(path.resolve()), vocoder.load_model(path).sha256


def plan(
    folders: list[Path],
    seed: int,
    methods: list[str],
    *,
    squeeze_share: float = 0.0,
    vocoder_model: Path | None = None,
) -> tuple[list[Job], list[dict[str, str]]]:
    """Every labelled file as it is, plus one pseudo-fake per real file of an unlabelled folder."""
    items, provenance = collect(folders, allow_one_class=True)
    rng = np.random.default_rng(seed)
    unlabelled = {f.resolve().name for f in folders if "label" not in _columns(f)}
    jobs = [Job(i, None, bool(rng.random() < squeeze_share), seed) for i in items]
    methods = check(methods, vocoder_model) if methods else []
    model = model_ref(vocoder_model) if vocoder_model and NEURAL_VOCODER in methods else None
    reals = [i for i in items if i.label == 0 and i.folder in unlabelled]
    for k, item in enumerate(reals if methods else []):
        method = methods[k % len(methods)]
        fake = LabeledAudio(item.path, 1, f"pseudo:{method}", f"pseudo_{method}", item.folder)
        squeeze = bool(rng.random() < squeeze_share)
        uses = model if method == NEURAL_VOCODER else None
        jobs.append(Job(fake, method, squeeze, seed + k, uses))
    if {j.item.label for j in jobs} != {0, 1}:
        raise BadInputError("training needs real speech and fakes (labelled or pseudo-fakes)")
    return jobs, provenance


def _columns(folder: Path) -> set[str]:
    rows, _ = read_folder(folder)
    return set(rows[0]) if rows else set()


def wave(job: Job, max_s: float) -> np.ndarray:
    """The job's speech at 16 kHz: the file itself, its copy synthesis, or an engine's speech."""
    if job.method in tts_engines.ENGINES:  # other words, spoken by a machine
        rng = np.random.default_rng(job.seed)
        spoken = tts_engines.synthesise(job.method, tts_engines.text(rng), rng)
        return spoken[: int(max_s * SAMPLE_RATE)]
    out = decode_audio(job.item.path, sample_rate=SAMPLE_RATE, max_s=max_s)[0]
    if job.method == NEURAL_VOCODER:
        from modalities.audio.synthesis import vocoder

        if job.model is None:
            raise BadInputError("neural_vocoder pseudo-fake without a model")
        return vocoder.resynthesise(vocoder.cached_model(*job.model), out)
    if job.method is not None:
        out = copy_synthesis.METHODS[job.method](out, job.seed)
    return np.asarray(out, dtype=np.float32)


def recipe_note(methods: list[str], vocoder_model: Path | None = None) -> dict[str, object]:
    """What the card records of the pseudo-fakes: methods, engines' versions, vocoder model."""
    note: dict[str, object] = {
        "pseudo_fakes": methods,
        "tts_engines": {m: tts_engines.version(m) for m in methods if m in tts_engines.ENGINES},
    }
    if NEURAL_VOCODER in methods and vocoder_model is not None:
        from modalities.audio.synthesis import vocoder

        model = vocoder.load_model(vocoder_model)
        note["vocoder_model"] = {"file": vocoder_model.name, "sha256": model.sha256,
                                 "facts": model.facts}  # fmt: skip
    return note
