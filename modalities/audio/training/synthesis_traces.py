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
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from core.calibration import fit_calibration, save
from core.media import decode_audio
from core.training import calibration_data, write_card, write_descriptor
from modalities.audio import frontend, synthesis_traces
from modalities.audio import trace_features as tf
from modalities.audio.synthesis_traces import TraceHead
from modalities.audio.training.data import LabeledAudio, collect, fold_entry, validation_report

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
    from sklearn.model_selection import GroupKFold

    all_items, provenance = collect(folders)
    report = progress or (lambda step, done, total: None)
    rows: list[np.ndarray] = []
    items: list[LabeledAudio] = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        for i, (item, values) in enumerate(
            zip(all_items, pool.map(extract, all_items, chunksize=4), strict=True)
        ):
            if values is not None:  # files with under 0.5 s of speech carry no traces
                rows.append(values)
                items.append(item)
            report("traces", i + 1, len(all_items))
    x = np.stack(rows)
    labels = np.array([i.label for i in items])
    groups = np.array([i.group for i in items])
    oof = np.zeros(len(items))
    splitter = GroupKFold(n_splits=min(folds, len(set(groups))))
    fold_metrics = []
    for k, (train_idx, test_idx) in enumerate(splitter.split(x, labels, groups)):
        report("cross-validation", k, folds)
        head = fit_head(x[train_idx], labels[train_idx], seed)
        oof[test_idx] = [head.score(row) for row in x[test_idx]]
        held = sorted(set(groups[test_idx]))
        fold_metrics.append(fold_entry(k, held, oof[test_idx], labels[test_idx]))
    report("final fit", 0, 1)
    head = fit_head(x, labels, seed)
    out.mkdir(parents=True, exist_ok=True)
    weights_path = out / synthesis_traces.WEIGHTS_FILE
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
        "skipped_files": len(all_items) - len(items),
    }
    descriptor = write_descriptor(
        out,
        detector=synthesis_traces.NAME,
        version=synthesis_traces.VERSION,
        weights=weights_path,
        recipe=recipe,
        provenance=provenance,
    )
    data = calibration_data(provenance, "out-of-fold scores (generator held out)")
    calibration = fit_calibration(synthesis_traces.SPEC, oof, labels, data=data, method="platt")
    save(calibration, out / "calibration.json")
    validation = validation_report(items, oof, splitter.get_n_splits(), fold_metrics)
    validation["calibration"] = {"version": calibration.version, **calibration.fit_metrics}
    spread = np.std([head.contributions(row) for row in x], axis=0)
    validation["trace_influence"] = {  # how much each trace moves scores across the training set
        name: round(float(v), 4) for name, v in zip(tf.NAMES, spread, strict=True)
    }
    write_card(
        out,
        descriptor,
        "audio rows only",
        calibration_data="Platt fit on the out-of-fold scores of the generator-held-out "
        f"cross-validation ({validation['n_real']} real, {validation['n_fake']} fake files)",
        validation=validation,
    )
    return validation
