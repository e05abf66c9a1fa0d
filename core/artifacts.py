"""Figures that detectors attach to their evidence: heatmaps, spectrograms, curves.

A detector cannot write files (it may run in a worker on another machine, and an analysis that
fails must leave nothing behind), so it hands the bytes to the :class:`ArtifactCollector` of the
media it analyses and cites the returned :class:`~core.detector.ArtifactRef` in its Evidence. The
service that stores the analysis then writes the cited blobs into a content-addressed store
(``$VERITY_HOME/artifacts``) just before its transaction, and takes back the ones it created if
that transaction fails. Artifacts are addressed by SHA-256 like media, so a report or a dashboard
can show a figure and anyone can check that it is the one the analysis recorded.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from core.errors import DetectorError
from core.store import ContentStore

MAX_ARTIFACT_BYTES = 8 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "application/json", "text/csv"})


class ArtifactRef(BaseModel):
    """A heatmap, curve or plot kept in the artifact store, cited by hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str


@dataclass(frozen=True)
class Blob:
    data: bytes
    media_type: str


@dataclass
class ArtifactCollector:
    """Holds the figures of one analysis in memory until the analysis is stored."""

    _blobs: dict[str, Blob] = field(default_factory=dict)
    _total: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def put(self, kind: str, data: bytes, media_type: str) -> ArtifactRef:
        """Keep ``data`` and return the reference a detector puts in its Evidence."""
        if media_type not in MEDIA_TYPES:
            raise DetectorError(f"artifact media type {media_type!r} is not one of {MEDIA_TYPES}")
        if not data:
            raise DetectorError(f"artifact {kind!r} is empty")
        if len(data) > MAX_ARTIFACT_BYTES:
            raise DetectorError(
                f"artifact {kind!r} is {len(data)} bytes (limit {MAX_ARTIFACT_BYTES})"
            )
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            if sha not in self._blobs:
                if self._total + len(data) > MAX_TOTAL_BYTES:
                    raise DetectorError(f"artifacts of one analysis exceed {MAX_TOTAL_BYTES} bytes")
                self._blobs[sha] = Blob(data, media_type)
                self._total += len(data)
        return ArtifactRef(kind=kind, sha256=sha, media_type=media_type)

    def get(self, sha256: str) -> Blob | None:
        return self._blobs.get(sha256)

    def cited(self, refs: Iterable[ArtifactRef]) -> dict[str, Blob]:
        """The blobs that evidence actually cites (a failed detector's leftovers are dropped)."""
        out = {}
        for ref in refs:
            blob = self._blobs.get(ref.sha256)
            if blob is None:
                raise DetectorError(f"evidence cites artifact {ref.sha256[:12]} that was never put")
            out[ref.sha256] = blob
        return out


def persist(store: ContentStore, blobs: dict[str, Blob]) -> list[str]:
    """Write ``blobs`` into ``store``; return the hashes this call created (to undo on failure)."""
    created: list[str] = []
    try:
        for sha, blob in sorted(blobs.items()):
            stored = store.put_stream(io.BytesIO(blob.data))
            if stored.sha256 != sha:  # pragma: no cover - hashlib and the store disagree
                raise DetectorError(f"artifact stored as {stored.sha256}, expected {sha}")
            if stored.created:
                created.append(sha)
    except BaseException:
        discard(store, created)
        raise
    return created


def discard(store: ContentStore, created: list[str]) -> None:
    for sha in created:
        store.remove(sha)
