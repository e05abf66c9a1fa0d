"""What every training recipe shares: reading data folders, and writing what it made.

A data folder holds ``manifest.csv``; its name and the manifest's SHA-256 are the provenance that
the weights descriptor, the calibration and the model card all cite. The descriptor
(``weights.json``, read back by core.weights) names the weights file and its hash; the card keeps
its hand-written text and its evaluation numbers across retraining.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.calibration import atomic_write
from core.errors import BadInputError, display_name
from core.store import sha256_file
from core.weights import DESCRIPTOR

REQUIRED_COLUMNS = ("file", "kind")


def read_folder(
    folder: Path, required: Sequence[str] = REQUIRED_COLUMNS
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The manifest rows of a data folder and its provenance (folder name, manifest SHA-256).

    The manifest must have every column in ``required`` (by default ``file`` and ``kind``, which
    every recipe reads), and every row a ``file``; else one BadInputError naming the manifest."""
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        raise BadInputError(f"{display_name(folder)}: no manifest.csv")
    data = manifest.read_bytes()
    try:
        reader = csv.DictReader(data.decode("utf-8-sig").splitlines())
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    except UnicodeDecodeError:
        raise BadInputError(f"{display_name(manifest)}: not UTF-8 text") from None
    except csv.Error as exc:
        raise BadInputError(f"{display_name(manifest)}: unreadable CSV ({exc})") from None
    missing = [c for c in required if c not in columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        plural = "s" if len(missing) > 1 else ""
        raise BadInputError(f"{display_name(manifest)}: no {names} column{plural}")
    if "file" in required:
        for n, row in enumerate(rows, start=1):
            if not (row.get("file") or "").strip():
                raise BadInputError(f"{display_name(manifest)}: data row {n} names no file")
    return rows, {
        "folder": folder.resolve().name,
        "manifest_sha256": hashlib.sha256(data).hexdigest(),
    }


def calibration_data(provenance: list[dict[str, str]], scores: str) -> dict[str, str]:
    """The ``data`` field of a calibration fitted on a recipe's validation scores."""
    return {
        "manifest": "+".join(p["folder"] for p in provenance),
        "manifest_sha256": ",".join(p["manifest_sha256"] for p in provenance),
        "root": scores,
    }


def write_descriptor(
    out: Path,
    *,
    detector: str,
    version: str,
    weights: Path,
    recipe: dict[str, Any],
    provenance: list[dict[str, str]],
) -> dict[str, Any]:
    descriptor = {
        "detector": detector,
        "version": version,
        "file": weights.name,
        "sha256": sha256_file(weights),
        "source": f"trained by verity train {detector}",
        "recipe": recipe,
        "trained_on": provenance,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    atomic_write(out / DESCRIPTOR, json.dumps(descriptor, indent=1, sort_keys=True) + "\n")
    return descriptor


def write_card(out: Path, descriptor: dict[str, Any], data_note: str, **fields: Any) -> Path:
    """Update ``card.json``: training facts from the descriptor, everything else kept."""
    path = out / "card.json"
    card: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    card.update(
        {
            "detector": descriptor["detector"],
            "version": descriptor["version"],
            "weights_sha256": descriptor["sha256"],
            "training_data": "; ".join(
                f"{p['folder']} (manifest sha256 {p['manifest_sha256']})"
                for p in descriptor["trained_on"]
            )
            + f"; {data_note}; recipe {json.dumps(descriptor['recipe'], sort_keys=True)}",
            **fields,
        }
    )
    card.setdefault("evaluation", {})
    card.setdefault("metrics", {})
    return atomic_write(path, json.dumps(card, indent=1, sort_keys=True) + "\n")
