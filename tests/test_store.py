"""core.store: content addressing, atomic writes, read-only objects, corruption checks."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from core.errors import StoreDamagedError, StoreError
from core.store import ContentStore, sha256_file


def test_put_stores_by_hash_read_only(tmp_path: Path) -> None:
    source = tmp_path / "evil name.bin"
    source.write_bytes(b"evidence bytes")
    store = ContentStore(tmp_path / "objects")
    obj = store.put(source)
    expected = hashlib.sha256(b"evidence bytes").hexdigest()
    assert obj.sha256 == expected and obj.size == 14 and obj.created
    assert obj.path == tmp_path / "objects" / expected[:2] / expected[2:4] / expected
    assert obj.path.read_bytes() == b"evidence bytes"
    assert not obj.path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
    assert store.list_hashes() == [expected]


def test_put_is_idempotent(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "objects")
    a = tmp_path / "a"
    a.write_bytes(b"same")
    b = tmp_path / "b"
    b.write_bytes(b"same")
    first, second = store.put(a), store.put(b)
    assert first.sha256 == second.sha256
    assert first.created and not second.created
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


def test_interrupted_copy_leaves_nothing(tmp_path: Path) -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > 0:
                raise OSError("device went away")
            return super().read(5)

    store = ContentStore(tmp_path / "objects")
    with pytest.raises(OSError, match="went away"):
        store.put_stream(Broken(b"0123456789"))
    assert store.list_hashes() == []
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


def test_a_full_disk_is_the_stores_fault_not_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while writing the copy read as "FILE: cannot be read" and exit 2, blaming a
    good file; it is the store that cannot be written, and its partial copy is removed."""
    real_fsync = os.fsync

    def disk_full(fd: int) -> None:
        if os.path.isfile(f"/proc/self/fd/{fd}"):  # the copy, not a folder
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full)
    store = ContentStore(tmp_path / "objects")
    with pytest.raises(StoreError, match="No space left on device") as raised:
        store.put_stream(io.BytesIO(b"evidence bytes"))
    assert raised.value.exit_code == 1
    assert f"store {tmp_path / 'objects'} cannot be written" in str(raised.value)
    assert store.list_hashes() == []
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


def test_a_store_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    source = tmp_path / "clip.jpg"
    source.write_bytes(b"evidence bytes")
    (tmp_path / "objects").write_bytes(b"")  # a file where the store's folder should be
    with pytest.raises(StoreError, match="cannot be written") as raised:
        ContentStore(tmp_path / "objects").put(source)
    assert "clip.jpg" not in str(raised.value)


def test_verify_detects_corruption_and_missing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "objects")
    source = tmp_path / "f"
    source.write_bytes(b"original")
    obj = store.put(source)
    store.verify(obj.sha256)
    obj.path.chmod(0o644)
    obj.path.write_bytes(b"tampered")
    with pytest.raises(StoreError, match="corrupt"):
        store.verify(obj.sha256)
    store.remove(obj.sha256)
    with pytest.raises(StoreError, match="missing"):
        store.verify(obj.sha256)


def test_a_stored_copy_altered_in_place_is_never_reused(tmp_path: Path) -> None:
    """Same name, same size, other bytes: storing the file again must not return the damaged
    copy as if it held these bytes (everything after would analyse the wrong evidence)."""
    store = ContentStore(tmp_path / "objects")
    source = tmp_path / "f"
    source.write_bytes(b"original bytes")
    obj = store.put(source)
    obj.path.chmod(0o644)
    obj.path.write_bytes(b"0riginal bytes")
    with pytest.raises(StoreDamagedError, match="damaged") as raised:
        store.put(source)
    assert raised.value.exit_code == 3
    assert obj.path.read_bytes() == b"0riginal bytes"  # kept as evidence, not repaired
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
    with pytest.raises(StoreDamagedError):
        store.verify(obj.sha256)


def test_path_for_refuses_non_hashes(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "objects")
    for bad in ("../../etc/passwd", "A" * 64, "abc", "g" * 64):
        with pytest.raises(StoreError):
            store.path_for(bad)


def test_sha256_file_streams_large_files(tmp_path: Path) -> None:
    path = tmp_path / "big"
    block = bytes(range(256)) * 4096
    with path.open("wb") as handle:
        for _ in range(12):  # 12 MiB: spans several read chunks
            handle.write(block)
    assert sha256_file(path) == hashlib.sha256(block * 12).hexdigest()
