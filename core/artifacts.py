"""The artifact store: heatmaps and plots that Evidence cites by SHA-256.

Files live content-addressed under ``VERITY_HOME/artifacts/<sha[:2]>/<sha>``, written atomically
and read-only, so an ``ArtifactRef`` in a stored result always names the exact bytes a detector
produced, and the same heatmap produced twice is stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from core.config import Settings, load_settings
from core.detector import ArtifactRef
from core.errors import NotFoundError, VerificationError


def artifact_path(sha256: str, settings: Settings | None = None) -> Path:
    settings = settings or load_settings()
    return settings.artifacts_dir / sha256[:2] / sha256


def save_artifact(
    data: bytes, *, kind: str, media_type: str, settings: Settings | None = None
) -> ArtifactRef:
    """Store ``data`` (once) and return the reference Evidence carries."""
    sha = hashlib.sha256(data).hexdigest()
    path = artifact_path(sha, settings)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".artifact-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).chmod(0o444)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return ArtifactRef(kind=kind, sha256=sha, media_type=media_type)


def load_artifact(ref: ArtifactRef | str, settings: Settings | None = None) -> bytes:
    """The bytes of an artifact, checked against their hash."""
    sha = ref if isinstance(ref, str) else ref.sha256
    path = artifact_path(sha, settings)
    if not path.is_file():
        raise NotFoundError(f"artifact {sha[:16]}… is not in the artifact store")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha:
        raise VerificationError(f"artifact {sha[:16]}… does not match its hash")
    return data
