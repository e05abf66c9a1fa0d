"""provenance.keys: keys are made on first use only, never silently remade when a file is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ProvenanceError
from provenance.keys import KeyRing


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_first_use_makes_the_key_and_the_log_id(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    key = ring.active()
    log_id = ring.log_id()
    assert log_id.startswith("verity-log:") and ring.log_id() == log_id
    assert ring.active().key_id == key.key_id
    assert set(ring.public_keys()) == {key.key_id}


def test_a_lost_pointer_is_not_replaced_by_a_new_key(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    key = ring.active()
    (tmp_path / "keys" / "active").unlink()
    before = _names(tmp_path / "keys")
    with pytest.raises(ProvenanceError) as caught:
        ring.active()
    message = str(caught.value)
    assert "keys/active is missing" in message and key.key_id in message
    assert "verity keys rotate" in message and "\n" not in message
    assert _names(tmp_path / "keys") == before  # nothing made


def test_the_report_ring_names_its_own_pointer(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys", purpose="report")
    ring.active()
    (tmp_path / "keys" / "report.active").unlink()
    with pytest.raises(ProvenanceError, match=r"keys/report.active is missing.*--report"):
        ring.active()


def test_create_false_refuses_even_an_empty_ring(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    with pytest.raises(ProvenanceError, match="keys/active is missing"):
        ring.active(create=False)
    with pytest.raises(ProvenanceError, match="keys/log_id is missing"):
        ring.log_id(expected="verity-log:x")
    assert not (tmp_path / "keys").exists()


def test_the_log_id_must_be_the_one_the_checkpoints_name(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    log_id = ring.log_id()
    assert ring.log_id(expected=log_id) == log_id
    with pytest.raises(ProvenanceError, match="belong to another log"):
        ring.log_id(expected="verity-log:other")


def test_rotation_starts_a_new_key_even_when_the_pointer_was_lost(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    old = ring.active()
    (tmp_path / "keys" / "active").unlink()
    new = ring.rotate()
    assert new.key_id != old.key_id and ring.active().key_id == new.key_id
    assert set(ring.public_keys()) == {old.key_id, new.key_id}


def test_rotation_keeps_the_old_key_listed(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "keys")
    old = ring.active()
    new = ring.rotate()
    assert ring.active(create=False).key_id == new.key_id != old.key_id
    assert set(ring.public_keys()) == {old.key_id, new.key_id}


def test_a_keys_folder_that_cannot_be_written_is_one_clear_error(tmp_path: Path) -> None:
    """It was a PermissionError or FileExistsError traceback in `verity report`, the dashboard's
    Export report and Register."""
    (tmp_path / "keys").write_text("not a folder")
    with pytest.raises(ProvenanceError, match=r"keys: a new report key cannot be written there"):
        KeyRing(tmp_path / "keys", purpose="report").active()


def test_a_key_half_written_is_taken_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write_text = Path.write_text

    def disk_full_at_the_public_half(self: Path, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.suffix == ".pub":
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full_at_the_public_half)
    with pytest.raises(ProvenanceError, match=r"No space left on device"):
        KeyRing(tmp_path / "keys").active()
    assert _names(tmp_path / "keys") == []  # no private key without its public half
