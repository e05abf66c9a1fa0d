"""Content-addressed store: every file kept once, under its SHA-256, read-only.

A file is streamed into a temporary file inside the store (same filesystem), hashed on the way,
fsynced, then renamed atomically to ``objects/ab/cd/<sha256>``. The client's file name is never part
of a path. An interrupted copy leaves at most a temporary file that the next put removes; a
half-written object can never appear under a hash name.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from core.errors import StoreDamagedError, StoreError, display_name

CHUNK_BYTES = 4 * 1024 * 1024
_HEX = frozenset("0123456789abcdef")


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, streamed in large chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def is_sha256(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX


@dataclass(frozen=True, slots=True)
class StoredObject:
    sha256: str
    size: int
    path: Path
    created: bool  # False when the store already held these bytes


class ContentStore:
    """Files by SHA-256 under ``root``.

    >>> store = ContentStore(Path("/tmp/verity-doc/objects"))  # doctest: +SKIP
    >>> obj = store.put(Path("photo.jpg"))  # doctest: +SKIP
    >>> store.path_for(obj.sha256).read_bytes() == Path("photo.jpg").read_bytes()  # doctest: +SKIP
    True
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"

    def path_for(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise StoreError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put(self, source: Path) -> StoredObject:
        """Copy ``source`` into the store and return its hash; idempotent for identical bytes.

        An ``OSError`` is the source's (it cannot be opened or read); the store's own failures
        (a full disk, a folder that cannot be made) are a :class:`StoreError` naming the store.
        """
        with source.open("rb") as reader:
            return self.put_stream(reader)

    def put_stream(self, reader: BinaryIO) -> StoredObject:
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        except OSError as exc:
            raise self._unwritable(exc) from None
        tmp_path = Path(tmp_name)
        try:
            sha, size = _copy(reader, fd)
            final = self.path_for(sha)
            if final.is_file():
                # the name alone proves nothing: bytes altered in place keep it, and filing or
                # analysing them under it would attach this file's hash to other evidence
                self._check_existing(final, sha)
                tmp_path.unlink()
                return StoredObject(sha, size, final, created=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp_path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            tmp_path.replace(final)
            _fsync_dir(final.parent)
            return StoredObject(sha, size, final, created=True)
        except _Unreadable as exc:
            tmp_path.unlink(missing_ok=True)
            raise exc.error from None
        except OSError as exc:  # writing, syncing or filing the copy: a full disk, an I/O error
            tmp_path.unlink(missing_ok=True)
            raise self._unwritable(exc) from None
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise

    def _unwritable(self, exc: OSError) -> StoreError:
        problem = exc.strerror or type(exc).__name__
        return StoreError(f"the store {display_name(self.root)} cannot be written ({problem})")

    def remove(self, sha256: str) -> None:
        """Take back an object this process just created when its database rows did not commit."""
        path = self.path_for(sha256)
        if path.exists():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
            path.unlink()

    def verify(self, sha256: str) -> None:
        """Raise StoreDamagedError (exit 3) unless the stored bytes still hash to their name."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise StoreDamagedError(f"object {sha256} is missing from the store")
        actual = sha256_file(path)
        if actual != sha256:
            raise StoreDamagedError(f"object {sha256} is corrupt: its bytes hash to {actual}")

    def list_hashes(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob("??/??/*") if is_sha256(p.name))

    @staticmethod
    def _check_existing(path: Path, sha256: str) -> None:
        """Hash the copy already stored under ``sha256``; it costs one more read of a duplicate.

        A damaged copy is not repaired from the incoming bytes: that would erase the trace of
        whatever altered it. The error names the object so that an examiner can keep it aside.
        """
        actual = sha256_file(path)
        if actual != sha256:
            raise StoreDamagedError(
                f"stored object {sha256} is damaged: its bytes hash to {actual[:16]}… "
                f"({path}); keep it aside as evidence of the alteration, then store the file again"
            )


class _Unreadable(Exception):
    """The source failed while being read: its own OSError, kept apart from the store's."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _copy(reader: BinaryIO, fd: int) -> tuple[str, int]:
    """Stream ``reader`` into the open file ``fd`` and sync it; return its SHA-256 and size.

    A read error is raised as :class:`_Unreadable`; any other ``OSError`` is the store's.
    """
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "wb", buffering=0) as writer:
        while True:
            try:
                block = reader.read(CHUNK_BYTES)
            except OSError as exc:
                raise _Unreadable(exc) from exc
            if not block:
                break
            digest.update(block)
            view = memoryview(block)
            while view:  # unbuffered, so that a failed write is not retried by close()
                written = writer.write(view)
                view = view[written:]
            size += len(block)
        os.fsync(writer.fileno())
    return digest.hexdigest(), size


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
