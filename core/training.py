"""What every training recipe shares: reading data folders, and writing what it made.

A data folder holds ``manifest.csv``; its name and the manifest's SHA-256 are the provenance that
the weights descriptor, the calibration and the model card all cite. The descriptor
(``weights.json``, read back by core.weights) names the weights file and its hash; the card keeps
its hand-written text and its evaluation numbers across retraining (of the same detector only).

A recipe writes everything into :func:`staged_output`, which replaces the target folder in one step
when all is written: weights, descriptor, calibration and card never disagree, even after a kill.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import posixpath
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.calibration import atomic_write
from core.errors import BadInputError, display_name
from core.outputs import folder_problem, staged_folder
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


def inside(folder: Path, relative: str, where: str) -> Path:
    """``folder / relative``, refused when ``relative`` is absolute, climbs out with ``..`` or
    resolves (symlinks followed) outside ``folder``: a source is read from the data folder only
    and its copy lands under the output folder only. ``where`` starts the message."""
    normal = posixpath.normpath(relative)
    path = folder / relative
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte in the name
        raise BadInputError(f"{where}: {display_name(relative)} cannot be resolved") from None
    if (
        Path(relative).is_absolute()
        or normal == ".."
        or normal.startswith("../")
        or not resolved.is_relative_to(folder.resolve())
    ):
        raise BadInputError(f"{where}: {display_name(relative)} points outside the data folder")
    return path


def data_file(folder: Path, name: str) -> Path:
    """``folder / name`` for a training manifest row's ``file``, once sure it is a file inside
    ``folder`` (:func:`inside`): a row such as ``../../etc/passwd`` must not make a recipe read,
    train on and cite a file from elsewhere on the machine."""
    manifest = display_name(folder / "manifest.csv")
    path = inside(folder, name, manifest)
    if not path.is_file():
        raise BadInputError(f"{manifest}: missing file {name!r}")
    return path


def read_picture(path: Path) -> np.ndarray:
    """A data folder's picture as uint8 RGB; a file Pillow cannot read (not a picture, cut off,
    too large to decode safely) is one BadInputError naming it, in whichever worker reads it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (
        OSError,
        UnidentifiedImageError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ) as exc:
        raise BadInputError(f"{display_name(path)}: not a readable picture ({exc})") from None


def existing_card(out: Path, detector: str) -> dict[str, Any]:
    """The card already in ``out`` (empty if none), refused when it cannot be kept.

    Unreadable, or naming another detector: a card's hand-written text (what it detects, its
    limits, licence) belongs to one detector and must not be carried over to another."""
    path = out / "card.json"
    if not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{display_name(path)}: not a readable model card ({exc})") from None
    if not isinstance(card, dict):
        raise BadInputError(f"{display_name(path)}: not a model card (a JSON object)")
    if card.get("detector", detector) != detector:
        raise BadInputError(
            f"{display_name(out)}: holds the card of {display_name(str(card['detector']))}, "
            f"not {detector}; give --out an empty folder or one of {detector}"
        )
    return card


def check_output(out: Path, detector: str) -> None:
    """Refuse, before any training, an ``out`` that the trained detector cannot be written to:
    a file, a place that cannot be created or written, the parent folder that the finished
    folder is swapped in from, or a folder holding another detector's (or an unreadable) card."""
    if problem := folder_problem(out):
        raise BadInputError(f"--out {display_name(out)}: {problem}")
    parent = out.absolute().parent
    if out.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise BadInputError(
            f"--out {display_name(out)}: its folder {display_name(parent)} is not writable "
            "(the trained folder is written beside it, then swapped in)"
        )
    if out.is_dir():
        existing_card(out, detector)
        descriptor = out / DESCRIPTOR
        if descriptor.is_file():
            try:
                named = json.loads(descriptor.read_text(encoding="utf-8")).get("detector")
            except (OSError, ValueError, AttributeError):
                named = None
            if named not in (None, detector):
                raise BadInputError(
                    f"{display_name(out)}: holds the weights of {display_name(str(named))}, "
                    f"not {detector}; give --out an empty folder or one of {detector}"
                )


@contextmanager
def staged_output(out: Path, detector: str) -> Iterator[Path]:
    """The folder a recipe writes its weights, descriptor, calibration and card into; it
    replaces ``out`` in one step when the block ends (core.outputs.staged_folder).

    The existing card is copied in first, so :func:`write_card` keeps its hand-written text."""
    check_output(out, detector)
    with staged_folder(out) as stage:
        if (out / "card.json").is_file():
            shutil.copy2(out / "card.json", stage / "card.json")
        yield stage


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
    card = existing_card(out, descriptor["detector"])
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
