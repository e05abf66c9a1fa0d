"""Weights as evidence: every trained detector's folder holds ``weights.json``, a descriptor
naming the weights file and its SHA-256, written by the training recipe. Loading re-hashes the file
and refuses it on any mismatch, so a result can only ever cite the bytes that produced it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.detector import WeightsRef
from core.errors import DetectorError
from core.store import sha256_file

DESCRIPTOR = "weights.json"


def read_descriptor(folder: Path) -> dict[str, Any] | None:
    path = folder / DESCRIPTOR
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        raise DetectorError(f"{path} is not JSON: {exc}") from None


def weights_ref(folder: Path) -> WeightsRef | None:
    """The spec's view of the weights in ``folder``, or None when nothing is trained there."""
    descriptor = read_descriptor(folder)
    if descriptor is None:
        return None
    return WeightsRef(
        path=f"{folder.name}/{descriptor['file']}",
        sha256=descriptor["sha256"],
        source=descriptor.get("source", "trained by verity train"),
    )


def verified_weights(name: str, folder: Path) -> Path:
    """The weights file of ``folder`` after checking its hash; raises DetectorError otherwise."""
    descriptor = read_descriptor(folder)
    if descriptor is None:
        raise DetectorError(
            f"{name}: no trained weights in {folder}; run `verity train {name} --data DIR`"
        )
    path: Path = folder / str(descriptor["file"])
    actual = sha256_file(path) if path.is_file() else "missing"
    if actual != descriptor["sha256"]:
        raise DetectorError(
            f"{name}: weights {path} hash {actual[:16]}… but the descriptor says "
            f"{descriptor['sha256'][:16]}…; refusing to use them"
        )
    return path
