"""Recipe for ``audio.artifacts``: measure traces, validate on held-out generators, fit the head.

1. Every file goes through the detector's own front end (16 kHz mono, one MP3 round trip) and
   :func:`modalities.audio.trace_features.traces` (the first ``MAX_SECONDS`` seconds).
2. Grouped k-fold cross-validation, folds split by generator (fakes) and by corpus or speaker
   (reals): every out-of-fold score comes from a head that never saw that system.
3. Out-of-fold scores give the card's error rates and fit the shipped Platt calibration.
4. The final head (an additive model: hinge basis per trace + L2 logistic regression) is fitted
   on all files and written as ``artifacts_head.npz`` with descriptor, calibration and card.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.sound import decode_audio
from core.training import staged_output
from modalities.audio import frontend, synthesis_traces
from modalities.audio import trace_features as tf
from modalities.audio.synthesis_traces import TraceHead
from modalities.audio.training.data import LabeledAudio, collect, grouped_cv, write_trained

MAX_SECONDS = 20.0
KNOTS = 5  # hinge knots per trace, at training-set quantiles
C = 1.0  # L2 strength (chosen by grouped CV on the training folders only: 3/5/8 knots, C 0.1/1)


def extract(item: LabeledAudio) -> np.ndarray | None:
    wave = decode_audio(item.path, sample_rate=frontend.SAMPLE_RATE, max_s=MAX_SECONDS)[0]
    found = tf.traces(frontend.normalize_channel(wave))
    return None if found is None else found.values


def fit_head(x: np.ndarray, y: np.ndarray, seed: int) -> TraceHead:
    from sklearn.linear_model import LogisticRegression

    knots = np.quantile(x, np.linspace(0, 1, KNOTS + 2)[1:-1], axis=0)
    unit = x.std(axis=0) + 1e-9
    basis = TraceHead.expand(x, knots, unit)
    mean = basis.mean(axis=0)
    scale = basis.std(axis=0) + 1e-9
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=seed)
    model.fit((basis - mean) / scale, y)
    real = x[y == 0]
    return TraceHead(
        {
            "names": np.array(tf.NAMES),
            "knots": knots,
            "unit": unit,
            "mean": mean,
            "scale": scale,
            "coef": model.coef_[0],
            "intercept": np.array(model.intercept_[0]),
            "real_mean": real.mean(axis=0),
            "real_std": real.std(axis=0) + 1e-9,
            "low": np.percentile(x, 0.5, axis=0),
            "high": np.percentile(x, 99.5, axis=0),
        }
    )


def train(
    folders: list[Path],
    out: Path,
    *,
    folds: int = 5,
    seed: int = 0,
    jobs: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Train, validate with held-out generators, calibrate, and write everything to ``out``."""
    all_items, provenance = collect(folders)
    cv = grouped_cv(  # files with under 0.5 s of speech carry no traces: left out
        all_items,
        extract,
        lambda rows, labels, _fold_seed: fit_head(np.stack(rows), labels, seed),
        lambda head, row: head.score(row),
        folds=folds,
        seed=seed,
        jobs=jobs,
        progress=progress,
        step="traces",
    )
    head = cv.model
    with staged_output(out, synthesis_traces.NAME) as folder:
        weights_path = folder / synthesis_traces.WEIGHTS_FILE
        arrays: dict[str, Any] = head.arrays()
        np.savez(weights_path, **arrays)
        recipe = {
            "folds": folds,
            "seed": seed,
            "max_seconds": MAX_SECONDS,
            "features": list(tf.NAMES),
            "head": f"additive model: {KNOTS} hinge knots per trace, standardised, L2 logistic "
            f"regression (C={C}), classes balanced",
            "channel": "16 kHz mono, one MP3 round trip at 64 kbit/s",
            "skipped_files": cv.skipped,
        }
        spread = np.std([head.contributions(row) for row in cv.features], axis=0)
        influence = {  # how much each trace moves scores across the training set
            name: round(float(v), 4) for name, v in zip(tf.NAMES, spread, strict=True)
        }
        return write_trained(
            folder,
            cv,
            spec=synthesis_traces.SPEC,
            weights=weights_path,
            recipe=recipe,
            provenance=provenance,
            data_note="audio rows only",
            extra={"trace_influence": influence},
        )
