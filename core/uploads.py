"""Files that arrive over the network (the dashboard) rather than from a path the user typed.

An upload is staged under a random name in ``VERITY_HOME/uploads/`` (mode 0700), counted against
the configured size limit while it is written, and then goes through the same ingest service as a
file on disk, which hashes it into the content store. The client's file name is metadata only: it
is never part of a path. The staged file is removed whatever happens, and ingest takes back a new
object whose rows did not commit, so a failed upload leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, BinaryIO

from core import services
from core.app import Verity
from core.errors import (
    MediaError,
    MediaLimitError,
    StoreError,
    UnsupportedMediaError,
    display_name,
)
from core.hooks import Hook, null_hook

CHUNK_BYTES = 1024 * 1024

# What the upload widgets offer; the content is still probed, so a renamed text file is refused.
VIDEO_TYPES = ("mp4", "mov", "m4v", "mkv", "webm", "avi")
AUDIO_TYPES = ("wav", "mp3", "flac", "ogg", "m4a", "aac", "opus")
IMAGE_TYPES = ("jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp")
ACCEPTED_TYPES = VIDEO_TYPES + AUDIO_TYPES + IMAGE_TYPES


@dataclass(frozen=True)
class Upload:
    """What a client sent: its name for the file (metadata only) and the bytes as a stream."""

    name: str
    stream: BinaryIO
    size: int | None = None


def uploads_dir(app: Verity) -> Path:
    folder = app.settings.home / "uploads"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise _staging_error(folder, exc) from None
    return folder


def _staging_error(folder: Path, exc: OSError) -> StoreError:
    return StoreError(
        f"{display_name(folder)}: an upload cannot be staged there "
        f"({exc.strerror or type(exc).__name__})"
    )


def check_upload_type(name: str) -> None:
    suffix = PurePath(name).suffix.lower().lstrip(".")
    if suffix not in ACCEPTED_TYPES:
        shown = f".{suffix}" if suffix else "no extension"
        raise UnsupportedMediaError(
            name,
            f"files with {shown} are not accepted; upload video "
            f"({', '.join(VIDEO_TYPES)}), audio ({', '.join(AUDIO_TYPES)}) "
            f"or images ({', '.join(IMAGE_TYPES)})",
        )


def precheck(app: Verity, upload: Upload) -> None:
    """Refuse, before a byte is staged, what the name and the announced size already rule out."""
    name = display_name(upload.name)
    check_upload_type(name)
    limit = app.settings.limits.upload_limit_bytes
    if upload.size is not None and upload.size > limit:
        raise MediaLimitError(name, f"is {upload.size} bytes, over the upload limit of {limit}")
    if upload.size == 0:
        raise MediaError(name, "is empty (0 bytes)")


@contextmanager
def staged(app: Verity, upload: Upload) -> Iterator[Path]:
    """The upload as a private temporary file; removed when the block ends, whatever happens."""
    name = display_name(upload.name)
    precheck(app, upload)
    limit = app.settings.limits.upload_limit_bytes
    folder = uploads_dir(app)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="upload-")
    except OSError as exc:
        raise _staging_error(folder, exc) from None
    path = Path(tmp)
    try:
        written = 0
        try:
            with os.fdopen(fd, "wb") as writer:
                while block := upload.stream.read(CHUNK_BYTES):
                    written += len(block)
                    if written > limit:
                        raise MediaLimitError(name, f"is over the upload limit of {limit} bytes")
                    writer.write(block)
        except OSError as exc:  # a full disk: the upload was not refused, it could not be kept
            raise _staging_error(folder, exc) from None
        if written == 0:
            raise MediaError(name, "is empty (0 bytes)")
        yield path
    finally:
        path.unlink(missing_ok=True)


@contextmanager
def named_errors(name: str) -> Iterator[None]:
    """Errors name the client's file, never the random staging path."""
    try:
        yield
    except MediaError as exc:
        raise type(exc)(display_name(name), exc.problem) from None


def ingest_upload(
    app: Verity, upload: Upload, case_ref: services.CaseRef, hook: Hook = null_hook
) -> services.Ingested:
    with named_errors(upload.name), staged(app, upload) as path:
        return services.ingest(app, path, case_ref, hook, original_name=upload.name)


def analyze_upload(
    app: Verity,
    upload: Upload,
    case_ref: services.CaseRef,
    detectors: list[str] | None = None,
    hook: Hook = null_hook,
) -> dict[str, Any]:
    """Stage, ingest and analyse one upload in this process; the JSON-contract result."""
    with named_errors(upload.name), staged(app, upload) as path:
        return services.analyze(
            app, path, case_ref, detectors, hook, original_name=display_name(upload.name)
        )
