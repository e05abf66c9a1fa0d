"""Recipe for ``audio.lfcc_gmm``: features, generator-held-out validation, calibration, weights.

1. Every file goes through the detector's own front end (16 kHz mono, one MP3 round trip, LFCC,
   per-file mean removal, speech frames only), capped at ``MAX_FRAMES`` frames per file.
2. Grouped k-fold cross-validation: the folds split by generator (fakes) and by corpus or speaker
   (reals), so every out-of-fold score comes from a model that never saw that system.
3. The out-of-fold scores give the card's error rates and fit the shipped calibration, so the
   calibration too reflects unseen generators rather than the training set.
4. The final mixtures are fitted on everything and written as ``lfcc_gmm.npz`` with a descriptor
   (``weights.json``: SHA-256, recipe, data folders, manifest hashes), the calibration, a card.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BadInputError
from core.training import staged_output
from modalities.audio import lfcc_gmm
from modalities.audio.gmm import DiagGMM
from modalities.audio.training import pseudo as pseudo_fakes
from modalities.audio.training.data import grouped_cv, write_trained

MAX_SECONDS = 20.0
MAX_FRAMES = 800
FIT_FRAMES = 200  # frames per file used to fit the mixtures (keeps big files from dominating)


def extract(job: pseudo_fakes.Job) -> np.ndarray | None:
    wave = pseudo_fakes.wave(job, MAX_SECONDS)
    if pseudo_fakes.too_short(wave):
        return None
    feats, mask = lfcc_gmm.file_features(wave)
    speech = feats[mask] if mask.sum() >= 20 else feats
    if len(speech) > MAX_FRAMES:
        speech = speech[np.linspace(0, len(speech) - 1, MAX_FRAMES).astype(int)]
    return speech.astype(np.float32)


def _fit_pair(
    feats: list[np.ndarray], labels: np.ndarray, components: int, seed: int
) -> tuple[DiagGMM, DiagGMM]:
    rng = np.random.default_rng(seed)

    def stack(cls: int) -> np.ndarray:
        parts = []
        for i in np.flatnonzero(labels == cls):
            f = feats[i]
            take = rng.choice(len(f), min(len(f), FIT_FRAMES), replace=False)
            parts.append(f[take])
        frames = np.concatenate(parts)
        if len(frames) < components:  # DiagGMM.fit would fail inside scikit-learn
            kind = "fake" if cls else "real"
            raise BadInputError(
                f"audio.lfcc_gmm: the {kind} training files of a fold give {len(frames)} LFCC "
                f"frames, fewer than the {components} mixture components: they hold too little "
                "speech (cut off or silent?)"
            )
        return frames

    return DiagGMM.fit(stack(0), components, seed), DiagGMM.fit(stack(1), components, seed)


def _score(pair: tuple[DiagGMM, DiagGMM], feats: np.ndarray) -> float:
    real, fake = pair
    return float(np.mean(fake.log_likelihood(feats) - real.log_likelihood(feats)))


def train(
    folders: list[Path],
    out: Path,
    *,
    components: int = 64,
    folds: int = 5,
    seed: int = 0,
    jobs: int = 2,
    pseudo: list[str] | None = None,
    vocoder_model: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Train, validate with held-out generators, calibrate, and write everything to ``out``.

    ``pseudo``: pseudo-fake methods for the real files of unlabelled folders (default none: the
    ASVspoof baseline learns from labelled generator outputs only)."""
    work, provenance = pseudo_fakes.plan(folders, seed, pseudo or [], vocoder_model=vocoder_model)
    cv = grouped_cv(
        [j.item for j in work],
        extract,
        lambda feats, labels, fold_seed: _fit_pair(feats, labels, components, fold_seed),
        _score,
        inputs=work,
        folds=folds,
        seed=seed,
        jobs=jobs,
        progress=progress,
    )
    real, fake = cv.model
    with staged_output(out, lfcc_gmm.NAME) as folder:
        weights_path = folder / "lfcc_gmm.npz"
        arrays: dict[str, Any] = {**real.arrays("real"), **fake.arrays("fake")}
        np.savez(weights_path, **arrays)
        recipe = {
            "components": components,
            "folds": folds,
            "seed": seed,
            "max_seconds": MAX_SECONDS,
            "max_frames": MAX_FRAMES,
            "fit_frames": FIT_FRAMES,
            "features": "LFCC 20+Δ+ΔΔ, 20 ms / 10 ms, linear filterbank, per-file mean removed",
            "channel": "16 kHz mono, one MP3 round trip at 64 kbit/s",
        }
        if cv.skipped:  # files too short to hold usable speech
            recipe["skipped_files"] = cv.skipped
        if pseudo:
            recipe.update(pseudo_fakes.recipe_note(list(pseudo), vocoder_model))
        return write_trained(
            folder,
            cv,
            spec=lfcc_gmm.SPEC,
            weights=weights_path,
            recipe=recipe,
            provenance=provenance,
            data_note="audio rows only",
        )
