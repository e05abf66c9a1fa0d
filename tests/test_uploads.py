"""Uploads: stored by hash through ingest, client names metadata only, nothing half-stored."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import services
from core.app import Verity
from core.config import load_settings
from core.db import CaseMedia, CustodyEvent, MediaItem
from core.errors import MediaError, MediaLimitError, StoreError, UnsupportedMediaError
from core.hooks import RecordingHook
from core.uploads import Upload, analyze_upload, ingest_upload, staged, uploads_dir


def _counts(app: Verity) -> tuple[int, int, int, int, int]:
    with app.db.session() as s:
        rows = tuple(
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (MediaItem, CaseMedia, CustodyEvent)
        )
    staging = list(uploads_dir(app).iterdir())
    return (*rows, len(app.store.list_hashes()), len(staging))


def upload_of(path: Path, name: str | None = None) -> Upload:
    data = path.read_bytes()
    return Upload(name=name or path.name, stream=io.BytesIO(data), size=len(data))


def test_upload_is_analysed_and_stored_by_hash(verity: Verity, clip: Path) -> None:
    hook = RecordingHook()
    hostile = "../../../etc/cron.d/evil\n.mp4"
    result = analyze_upload(verity, upload_of(clip, hostile), None, hook=hook)
    assert result["media"]["original_name"] == "../../../etc/cron.d/evil\\n.mp4"
    stored = verity.store.path_for(result["media"]["sha256"])
    assert stored.read_bytes() == clip.read_bytes()
    assert not (Path("/etc/cron.d") / "evil\n.mp4").exists()
    assert [c[0] for c in hook.calls][:3] == ["hash", "probe", "credentials"]
    assert hook.calls[-1][0] == "store"
    assert list(uploads_dir(verity).iterdir()) == []  # the staged copy is gone


@pytest.mark.parametrize("name", ["notes.txt", "script.py", "no-extension"])
def test_rejected_types_say_so_and_store_nothing(verity: Verity, photo: Path, name: str) -> None:
    services.create_case(verity, "c")
    before = _counts(verity)
    with pytest.raises(UnsupportedMediaError, match="are not accepted; upload video") as err:
        ingest_upload(verity, upload_of(photo, name), "c")
    assert str(err.value).startswith(name)
    assert _counts(verity) == before


def test_content_that_is_not_media_names_the_client_file(verity: Verity, text_as_mp4: Path) -> None:
    before = _counts(verity)
    with pytest.raises(UnsupportedMediaError) as err:
        analyze_upload(verity, upload_of(text_as_mp4), None)
    assert str(err.value).startswith("notes.mp4: ")
    assert "upload-" not in str(err.value)  # never the staging path
    assert _counts(verity) == before


def test_size_limit_from_config(
    backend: str, home: Path, monkeypatch: pytest.MonkeyPatch, clip: Path
) -> None:
    monkeypatch.setenv("VERITY_LIMITS__MAX_UPLOAD_BYTES", "1000")
    app = Verity.open(load_settings())
    try:
        assert app.settings.limits.upload_limit_bytes == 1000
        before = _counts(app)
        with pytest.raises(MediaLimitError, match="over the upload limit"):
            analyze_upload(app, upload_of(clip), None)
        # a client that does not announce the size is cut off while streaming
        unannounced = Upload(name="clip.mp4", stream=io.BytesIO(clip.read_bytes()))
        with pytest.raises(MediaLimitError, match="over the upload limit of 1000 bytes"):
            analyze_upload(app, unannounced, None)
        assert _counts(app) == before
    finally:
        app.close()


def test_staged_file_is_private_and_removed_on_error(verity: Verity, photo: Path) -> None:
    with pytest.raises(RuntimeError), staged(verity, upload_of(photo)) as path:
        assert path.parent == uploads_dir(verity)
        assert path.name.startswith("upload-") and "photo" not in path.name
        assert (uploads_dir(verity).stat().st_mode & 0o777) == 0o700
        assert path.read_bytes() == photo.read_bytes()
        raise RuntimeError("the analysis failed")
    assert not path.exists()


def test_empty_upload_is_refused(verity: Verity) -> None:
    with pytest.raises(MediaError, match="is empty"):
        ingest_upload(verity, Upload(name="a.jpg", stream=io.BytesIO(b"")), None)
    assert _counts(verity)[3:] == (0, 0)


def test_an_uploads_folder_that_cannot_be_written_is_one_clear_error(
    verity: Verity, photo: Path
) -> None:
    """It was a FileExistsError or PermissionError traceback on the Analyze and Verify pages."""
    (verity.settings.home / "uploads").write_text("not a folder")
    with pytest.raises(StoreError, match=r"uploads: an upload cannot be staged there"):
        ingest_upload(verity, upload_of(photo), None)
    (verity.settings.home / "uploads").unlink()
    assert _counts(verity) == (0, 0, 0, 0, 0)  # nothing filed, stored or left staged
