"""Labelled audio for training: manifests of folders such as ../shared/fake-corpus and
../shared/train-corpus, read the same way for every recipe.

A folder holds ``manifest.csv``. Rows whose ``kind`` is ``audio`` are used. A ``label`` column says
real or fake; a folder without one (train-corpus) holds only real media. The ``generator`` column,
or ``identity`` for real corpora, names the system or source a file came from: validation holds out
whole groups, so a detector is always measured on generators it never saw.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import metrics
from core.errors import BadInputError, display_name
from core.training import read_folder


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
            path = (folder / row["file"]).resolve()
            if not path.is_relative_to(folder.resolve()) or not path.is_file():
                raise BadInputError(f"{display_name(manifest)}: missing file {row['file']!r}")
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
