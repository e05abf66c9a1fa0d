"""Files of the lab's own generators (GAN faces, neural vocoder): one torch payload, written
atomically, read back safely.

A model file is a dict ``{format, config, facts, state}`` saved with ``torch.save`` and loaded with
``weights_only=True`` (no pickled code runs). A missing, truncated, foreign or mismatched file is
one clear :class:`~core.errors.BadInputError`, never a traceback, and a half-written file never
takes the model's name: writes go to a hidden ``.part`` file renamed into place.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from core.errors import BadInputError, display_name

T = TypeVar("T")


@dataclass(frozen=True)
class TrainResult:
    """What a lab trainer reports: steps done, seconds spent, mean loss at the end and start."""

    steps: int
    seconds: float
    loss: float
    first_loss: float


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` at ``path`` completely or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def save(path: Path, fmt: str, config: dict[str, Any], facts: dict[str, Any], module: Any) -> None:
    """``module``'s weights with its config and training facts, in one atomic write."""
    import torch

    buffer = io.BytesIO()
    payload = {
        "format": fmt,
        "config": json.dumps(config, sort_keys=True),
        "facts": json.dumps(facts, sort_keys=True, default=str),
        "state": {k: v.detach().clone() for k, v in module.state_dict().items()},
    }
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())


MAX_MODEL_BYTES = 1 << 30  # the lab's models are tens of MB; a larger file is something else


def stored_format(path: Path) -> str | None:
    """The ``format`` a lab model file declares (a torch payload, or the face swap's ``.npz``
    with its ``__config__``), None for any other file. Read without running pickled code, so
    that a trainer can tell its own earlier model (replaced) from someone's file (kept)."""
    import numpy as np
    import torch

    try:
        if path.stat().st_size > MAX_MODEL_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None

    def torch_payload() -> Any:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)

    def npz_config() -> Any:  # the face swap's model
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return json.loads(str(arrays["__config__"]))

    for read in (torch_payload, npz_config):
        try:
            found = read()
        except Exception:  # not this kind of file: try the next, else it is no lab model
            found = None
        declared = found.get("format") if isinstance(found, dict) else None
        if isinstance(declared, str):
            return declared
    return None


def load(
    path: Path, fmt: str, what: str, build: Callable[[dict[str, Any]], T]
) -> tuple[T, dict[str, Any], str]:
    """The module ``build(config)`` with the file's weights, in eval mode without gradients, its
    facts and the file's SHA-256. ``what`` names the kind of model in errors ("GAN")."""
    import torch

    if not path.is_file():
        raise BadInputError(f"{display_name(path)}: no such {what} model file")
    data = path.read_bytes()
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != fmt:
            raise ValueError(f"not a lab {what} model")
        module = build(json.loads(payload["config"]))
        module.load_state_dict(payload["state"])  # type: ignore[attr-defined]
        facts = json.loads(payload["facts"])
    except Exception as error:  # a truncated, foreign or mismatched file: all bad input
        raise BadInputError(
            f"{display_name(path)}: not a verity lab {what} model ({type(error).__name__})"
        ) from error
    module.requires_grad_(False).eval()  # type: ignore[attr-defined]
    return module, facts, hashlib.sha256(data).hexdigest()
