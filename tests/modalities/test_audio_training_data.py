"""modalities.audio.training.data: the grouped cross-validation every audio recipe shares.

``grouped_cv`` replaced three copies of the same loop (lfcc_gmm, synthesis_traces, cnn). These
tests pin what those copies did, on synthetic features: the same folds, the same seeds per fold,
the same out-of-fold scores and fold lines, items without features left out, and the final model
fitted on everything with the recipe's seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from core.detector import DetectorSpec, Modality
from core.media import MediaKind
from modalities.audio.training.data import (
    CrossValidation,
    LabeledAudio,
    fold_entry,
    grouped_cv,
    validation_report,
    write_trained,
)

SPEC = DetectorSpec(
    name="audio.test_cv",
    modality=Modality.AUDIO,
    version="0.0.1",
    summary="test",
    media_kinds=frozenset({MediaKind.AUDIO}),
    resolution="clip",
    licence="test",
)


def _items(n_groups: int = 5, per_group: int = 4) -> list[LabeledAudio]:
    items = []
    for g in range(n_groups):
        for k in range(per_group):
            label = (g + k) % 2
            category = "silent" if (g, k) == (1, 2) else ("tts" if label else "real")
            items.append(LabeledAudio(Path(f"{g}_{k}.wav"), label, f"g{g}", category, "synthetic"))
    return items


def extract(item: LabeledAudio) -> np.ndarray | None:
    """Module level, because it runs in spawned processes; fakes sit 1.5 higher."""
    if item.category == "silent":
        return None
    seed = sum(ord(c) for c in item.path.name)
    return np.random.default_rng(seed).normal(1.5 * item.label, 1.0, size=3)


def fit(feats: list[np.ndarray], labels: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """A nearest-mean model with a seeded bias, so a wrong seed shows in every score."""
    x = np.stack(feats)
    direction = x[labels == 1].mean(axis=0) - x[labels == 0].mean(axis=0)
    return direction, float(np.random.default_rng(seed).normal())


def score(model: tuple[np.ndarray, float], f: np.ndarray) -> float:
    direction, bias = model
    return float(f @ direction + bias)


def _reference(items: list[LabeledAudio], folds: int, seed: int) -> dict:
    """The loop as the recipes wrote it before it moved into ``grouped_cv``."""
    kept = [(i, f) for i in items if (f := extract(i)) is not None]
    feats = [f for _, f in kept]
    labels = np.array([i.label for i, _ in kept])
    groups = np.array([i.group for i, _ in kept])
    oof = np.zeros(len(kept))
    splitter = GroupKFold(n_splits=min(folds, len(set(groups))))
    lines = []
    for k, (train_idx, test_idx) in enumerate(splitter.split(feats, labels, groups)):
        model = fit([feats[i] for i in train_idx], labels[train_idx], seed + k)
        for i in test_idx:
            oof[i] = score(model, feats[i])
        held = sorted(set(groups[test_idx]))
        lines.append(fold_entry(k, held, oof[test_idx], labels[test_idx]))
    return {"oof": oof, "folds": lines, "model": fit(feats, labels, seed), "n": len(kept)}


@pytest.mark.slow
def test_grouped_cv_gives_what_the_recipes_computed_and_is_repeatable() -> None:
    items = _items()
    steps: list[tuple[str, int, int]] = []
    cv = grouped_cv(
        items, extract, fit, score, folds=3, seed=7, jobs=1,
        progress=lambda *step: steps.append(step),
    )  # fmt: skip
    ref = _reference(items, folds=3, seed=7)
    assert np.array_equal(cv.oof, ref["oof"]) and cv.folds == ref["folds"]
    assert np.array_equal(cv.model[0], ref["model"][0]) and cv.model[1] == ref["model"][1]
    assert cv.skipped == 1 and len(cv.items) == len(cv.features) == ref["n"] == len(items) - 1
    assert all(i.category != "silent" for i in cv.items) and cv.n_splits == 3
    assert sorted(g for f in cv.folds for g in f["held_out_groups"]) == [f"g{g}" for g in range(5)]
    assert steps[: len(items)] == [("features", i + 1, len(items)) for i in range(len(items))]
    assert steps[len(items) :] == [("cross-validation", k, 3) for k in range(3)] + [
        ("final fit", 0, 1)
    ]
    again = grouped_cv(items, extract, fit, score, folds=3, seed=7, jobs=1)
    assert np.array_equal(again.oof, cv.oof) and again.folds == cv.folds
    other = grouped_cv(items, extract, fit, score, folds=3, seed=8, jobs=1)
    assert not np.array_equal(other.oof, cv.oof)  # the seed reaches every fold's model


@pytest.mark.slow
def test_grouped_cv_maps_inputs_to_items_and_refuses_a_mismatch() -> None:
    items = _items(n_groups=3, per_group=2)
    cv = grouped_cv(
        items, extract, fit, score, inputs=list(items), folds=5, seed=0, jobs=1, step="traces"
    )
    assert cv.n_splits == 3  # never more folds than groups
    with pytest.raises(ValueError, match="one input per item"):
        grouped_cv(items, extract, fit, score, inputs=items[:-1], folds=2, seed=0, jobs=1)


def test_write_trained_writes_descriptor_calibration_and_card(tmp_path: Path) -> None:
    items = [i for i in _items() if i.category != "silent"]
    labels = np.array([i.label for i in items])
    oof = labels + np.linspace(-0.8, 0.8, len(items))
    folds = [fold_entry(0, ["g0"], oof[:4], labels[:4])]
    cv: CrossValidation[np.ndarray, None] = CrossValidation(
        items, [], labels, oof, folds, 2, None, 0
    )
    weights = tmp_path / "w.npz"
    weights.write_bytes(b"weights")
    provenance = [{"folder": "synthetic", "manifest_sha256": "ab" * 32}]
    validation = write_trained(
        tmp_path, cv, spec=SPEC, weights=weights, recipe={"seed": 0}, provenance=provenance,
        data_note="audio rows only", files_note=", pseudo-fakes included", extra={"x": 1},
    )  # fmt: skip
    expected = validation_report(items, oof, 2, folds)
    assert {k: validation[k] for k in expected} == expected and validation["x"] == 1
    assert list(validation)[-2:] == ["calibration", "x"]
    card = json.loads((tmp_path / "card.json").read_text())
    assert card["validation"] == validation and card["detector"] == SPEC.name
    assert card["calibration_data"].endswith(
        f"({expected['n_real']} real, {expected['n_fake']} fake files, pseudo-fakes included)"
    )
    calibration = json.loads((tmp_path / "calibration.json").read_text())
    assert calibration["method"] == "platt" and calibration["detector"] == SPEC.name
    assert json.loads((tmp_path / "weights.json").read_text())["file"] == "w.npz"
