"""core.db and core.app: sessions, constraints, time zones, SQLite durability settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.app import Verity
from core.config import load_settings
from core.db import Case, MediaItem, make_engine
from core.errors import DatabaseError


def test_session_commits_or_rolls_back(verity: Verity) -> None:
    with verity.db.session() as s:
        s.add(Case(name="one", created_by="t"))
    with pytest.raises(RuntimeError), verity.db.session() as s:
        s.add(Case(name="two", created_by="t"))
        s.flush()
        raise RuntimeError("abort")
    with verity.db.session() as s:
        assert [c.name for c in s.query(Case).all()] == ["one"]


def test_media_sha256_is_unique(verity: Verity) -> None:
    row = {"sha256": "a" * 64, "size_bytes": 1, "kind": "image", "probe": {}}
    with verity.db.session() as s:
        s.add(MediaItem(**row))
    with pytest.raises(IntegrityError), verity.db.session() as s:
        s.add(MediaItem(**row))


def test_datetimes_come_back_in_utc(verity: Verity) -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with verity.db.session() as s:
        s.add(Case(name="tz", created_by="t", created_at=moment))
    with verity.db.session() as s:
        stored = s.query(Case).one().created_at
    assert stored.tzinfo is not None
    assert stored == moment and stored.utcoffset() == timedelta(0)
    with pytest.raises(Exception, match="naive"), verity.db.session() as s:
        s.add(Case(name="naive", created_by="t", created_at=datetime(2026, 1, 1)))
    assert datetime.now(UTC) > stored


def test_sqlite_runs_in_wal_with_full_sync(home) -> None:
    app = Verity.open(load_settings())
    with app.db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    app.close()


@pytest.mark.services
def test_server_database_is_not_migrated_behind_the_operators_back(
    home, pg_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERITY_DATABASE_URL", pg_schema_url)
    with pytest.raises(DatabaseError, match="verity db upgrade"):
        Verity.open(load_settings())


def test_unusable_database_url_is_a_clear_error(home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERITY_DATABASE_URL", "nosuchdialect://x")
    with pytest.raises(DatabaseError, match="database URL"):
        Verity.open(load_settings())
    with pytest.raises(DatabaseError):
        make_engine("postgresql+nosuchdriver://x/y")
