"""Labelled audio for training, and the validation every audio recipe runs on it.

Data: manifests of folders such as ../shared/fake-corpus and ../shared/train-corpus, read the same
way for every recipe. A folder holds ``manifest.csv``. Rows whose ``kind`` is ``audio`` are used. A
``label`` column says real or fake; a folder without one (train-corpus) holds only real media. The
``generator`` column, or ``identity`` for real corpora, names the system or source a file came
from: validation holds out whole groups, so a detector is always measured on generators it never
saw.

Validation: :func:`grouped_cv` (features in a spawn pool, group k-fold, out-of-fold scores, final
fit) and :func:`write_trained` (descriptor, Platt calibration on the out-of-fold scores, card) are
the one loop that ``audio.lfcc_gmm``, ``audio.artifacts`` and ``audio.cnn`` share; a recipe brings
only its features, its model and what it writes as weights.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from core import metrics
from core.calibration import fit_calibration, save
from core.detector import DetectorSpec
from core.errors import BadInputError, display_name
from core.pools import spawn_pool
from core.training import (
    calibration_data,
    data_file,
    read_folder,
    write_card,
    write_descriptor,
)

F = TypeVar("F")  # one item's features
M = TypeVar("M")  # a fitted model
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LabeledAudio:
    path: Path
    label: int  # 1 fake, 0 real
    group: str
    category: str
    folder: str


def _group(row: dict[str, str]) -> str:
    """One group per synthesis system (fakes) or per speaker or source (reals)."""
    source = (row.get("generator") or row.get("identity") or row.get("category") or "").strip()
    return source or "unknown"


def collect(
    folders: list[Path], *, allow_one_class: bool = False
) -> tuple[list[LabeledAudio], list[dict[str, str]]]:
    """Audio items of every folder and, per folder, its name and manifest SHA-256.

    ``allow_one_class`` is for recipes that make their own fakes from real speech.
    """
    items: list[LabeledAudio] = []
    provenance: list[dict[str, str]] = []
    for folder in folders:
        rows, origin = read_folder(folder)
        provenance.append(origin)
        manifest = folder / "manifest.csv"
        for row in rows:
            if (row.get("kind") or "").strip() != "audio":
                continue
            label_text = (row.get("label") or "real").strip().lower()
            if label_text not in {"real", "fake"}:
                raise BadInputError(f"{display_name(manifest)}: label {label_text!r}")
            path = data_file(folder, row["file"]).resolve()
            items.append(
                LabeledAudio(
                    path,
                    1 if label_text == "fake" else 0,
                    _group(row),
                    (row.get("category") or "").strip(),
                    folder.resolve().name,
                )
            )
    if not items:
        raise BadInputError("no audio rows in the given folders")
    if not allow_one_class and (not any(i.label for i in items) or all(i.label for i in items)):
        raise BadInputError("training needs both real and fake audio; add a folder with fakes")
    return items, provenance


def fold_entry(k: int, held: list[str], oof: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """One fold's line on the card: which groups it held out and how it scored on them."""
    entry: dict[str, Any] = {"fold": k, "held_out_groups": held, "n": len(labels)}
    if metrics.has_both_classes(labels):
        entry["auc"] = metrics.auc(oof, labels)
        entry["eer"] = metrics.eer(oof, labels)[0]
    return entry


def validation_report(
    items: list[LabeledAudio], oof: np.ndarray, n_splits: int, folds: list[dict[str, Any]]
) -> dict[str, Any]:
    """Held-out metrics for a card: pooled and per fake category (each against all reals)."""
    labels = np.array([i.label for i in items])
    by_category = {}
    for category in sorted(set(i.category for i in items if i.label == 1)):
        pick = np.array([(i.label == 0) or (i.category == category) for i in items])
        by_category[category] = {
            "n_fake": int(((labels == 1) & pick).sum()),
            "auc": metrics.auc(oof[pick], labels[pick]),
            "eer": metrics.eer(oof[pick], labels[pick])[0],
        }
    return {
        "method": f"{n_splits}-fold cross-validation grouped by generator/source",
        "n_real": int((labels == 0).sum()),
        "n_fake": int((labels == 1).sum()),
        "groups": dict(Counter(i.group for i in items)),
        "auc": metrics.auc(oof, labels),
        "eer": metrics.eer(oof, labels)[0],
        "by_fake_category": by_category,
        "folds": folds,
    }


@dataclass(frozen=True)
class CrossValidation(Generic[F, M]):
    """What :func:`grouped_cv` leaves a recipe: the items that had features, their out-of-fold
    scores and per-fold lines, and the model fitted on all of them."""

    items: list[LabeledAudio]
    features: list[F]
    labels: np.ndarray
    oof: np.ndarray
    folds: list[dict[str, Any]]
    n_splits: int
    model: M
    skipped: int  # inputs whose features came back None (too little speech, …)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _where(items: Sequence[LabeledAudio]) -> str:
    return ", ".join(sorted({display_name(i.folder) for i in items})) or "no folder"


def check_folds(
    items: Sequence[LabeledAudio], folds: int, *, where: str | None = None, unusable: int = 0
) -> Any:
    """The ``GroupKFold`` splitter for ``items``, once sure that every fold trains on both classes.

    Each fold holds out whole groups, so real and fake files must each come from at least two
    groups, and no fold may hold out every group of one class; else one BadInputError that says
    what the cross-validation needs and what it got (before any features or weights are made).
    ``where`` names the data folders (default: those of ``items``) and ``unusable`` counts files
    left out for want of usable speech, so that a refusal says why files are missing."""
    from sklearn.model_selection import GroupKFold

    labels = np.array([i.label for i in items])
    groups = np.array([i.group for i in items])
    real, fake = set(groups[labels == 0]), set(groups[labels == 1])
    n_splits = min(folds, len(set(groups)))
    where = where or _where(items)
    got = (
        f"got {_count(int((labels == 0).sum()), 'real file')} in {_count(len(real), 'group')} "
        f"and {_count(int((labels == 1).sum()), 'fake file')} in {_count(len(fake), 'group')}"
    )
    if unusable:
        got += (
            f" with usable speech ({_count(unusable, 'file')} held none: too short, "
            "cut off or silent)"
        )
    if len(real) < 2 or len(fake) < 2:
        raise BadInputError(
            f"training data ({where}): {folds}-fold cross-validation grouped by "
            "generator/source needs real and fake files from at least 2 groups each "
            f"(generator for fakes, identity/speaker for reals); {got}"
        )
    splitter = GroupKFold(n_splits=n_splits)
    for k, (train_idx, _) in enumerate(splitter.split(labels, labels, groups)):
        for cls, name in ((0, "real"), (1, "fake")):
            if not (labels[train_idx] == cls).any():
                held = ", ".join(sorted(display_name(g) for g in set(groups[labels == cls])))
                raise BadInputError(
                    f"training data ({where}): fold {k + 1} of the {n_splits}-fold "
                    f"cross-validation holds out every {name} group ({held}), so it has no "
                    f"{name} files to train on; {got}: add {name} files from more groups"
                )
    return splitter


def grouped_cv(
    items: Sequence[LabeledAudio],
    extract: Callable[[Any], F | None],
    fit: Callable[[list[F], np.ndarray, int], M],
    score: Callable[[M, F], float],
    *,
    inputs: Sequence[Any] | None = None,
    folds: int,
    seed: int,
    jobs: int,
    progress: Progress | None = None,
    step: str = "features",
) -> CrossValidation[F, M]:
    """Features of every item, then k-fold cross-validation grouped by generator/source, then the
    final fit on everything.

    ``extract`` runs in a pool of ``jobs`` spawned processes (so it must be a module-level
    function) on ``inputs`` (default: the items themselves; one input per item); an item whose
    features are None is left out. ``fit(features, labels, seed)`` gets the training items of a
    fold with seed ``seed + k``, and all items with ``seed`` for the final model;
    ``score(model, features)`` gives one held-out item's raw score (higher: more fake). Folds come
    from ``GroupKFold`` (deterministic), so the same data and seed give the same scores.
    """
    report = progress or (lambda step, done, total: None)
    sources = list(items if inputs is None else inputs)
    if len(sources) != len(items):
        raise ValueError("grouped_cv: one input per item")
    check_folds(items, folds)  # refused before the (slow) features
    kept: list[LabeledAudio] = []
    feats: list[F] = []
    with spawn_pool(jobs) as pool:
        for i, (item, f) in enumerate(
            zip(items, pool.map(extract, sources, chunksize=4), strict=True)
        ):
            if f is not None:
                kept.append(item)
                feats.append(f)
            report(step, i + 1, len(sources))
    labels = np.array([i.label for i in kept])
    groups = np.array([i.group for i in kept])
    oof = np.zeros(len(kept))
    # again: files without features (no usable speech) may have left a group
    splitter = check_folds(kept, folds, where=_where(items), unusable=len(sources) - len(kept))
    fold_metrics = []
    for k, (train_idx, test_idx) in enumerate(splitter.split(feats, labels, groups)):
        report("cross-validation", k, folds)
        model = fit([feats[i] for i in train_idx], labels[train_idx], seed + k)
        for i in test_idx:
            oof[i] = score(model, feats[i])
        held = sorted(set(groups[test_idx]))
        fold_metrics.append(fold_entry(k, held, oof[test_idx], labels[test_idx]))
    report("final fit", 0, 1)
    final = fit(feats, labels, seed)
    return CrossValidation(
        kept, feats, labels, oof, fold_metrics, splitter.get_n_splits(), final,
        len(sources) - len(kept),
    )  # fmt: skip


def write_trained(
    out: Path,
    cv: CrossValidation[Any, Any],
    *,
    spec: DetectorSpec,
    weights: Path,
    recipe: dict[str, Any],
    provenance: list[dict[str, str]],
    data_note: str,
    files_note: str = "",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Descriptor for ``weights``, Platt calibration fitted on the out-of-fold scores (so it too
    reflects unseen generators), and the card with the validation report plus ``extra`` fields;
    returns the validation report."""
    descriptor = write_descriptor(
        out,
        detector=spec.name,
        version=spec.version,
        weights=weights,
        recipe=recipe,
        provenance=provenance,
    )
    data = calibration_data(provenance, "out-of-fold scores (generator held out)")
    calibration = fit_calibration(spec, cv.oof, cv.labels, data=data, method="platt")
    save(calibration, out / "calibration.json")
    validation = validation_report(cv.items, cv.oof, cv.n_splits, cv.folds)
    validation["calibration"] = {"version": calibration.version, **calibration.fit_metrics}
    validation.update(extra or {})
    write_card(
        out,
        descriptor,
        data_note,
        calibration_data="Platt fit on the out-of-fold scores of the generator-held-out "
        f"cross-validation ({validation['n_real']} real, {validation['n_fake']} fake "
        f"files{files_note})",
        validation=validation,
    )
    return validation
