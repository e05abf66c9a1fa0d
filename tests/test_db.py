"""core.db and core.app: sessions, constraints, time zones, SQLite durability settings."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.app import Verity
from core.cli import main
from core.config import load_settings
from core.db import Case, MediaItem, make_engine
from core.errors import ConfigError, DatabaseError


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


def test_unknown_database_dialect_or_driver_is_a_bad_setting(
    home, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A URL naming a database or driver this installation cannot use is the operator's
    setting, as an unparsable one is: exit 2 naming it, not exit 1 as if Verity had failed."""
    monkeypatch.setenv("VERITY_DATABASE_URL", "nosuchdialect://x")
    with pytest.raises(ConfigError, match="database_url"):
        Verity.open(load_settings())
    with pytest.raises(ConfigError, match="database_url"):
        make_engine("postgresql+nosuchdriver://x/y")
    code, err = run(capsys, "case", "list")
    assert code == 2 and "invalid setting database_url" in err and "nosuchdialect" in err


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The CLI's exit code and its stderr, which must be one ``verity: error:`` line."""
    code = main(list(args))
    err = capsys.readouterr().err
    (line,) = err.strip().splitlines()
    assert line.startswith("verity: error: "), line
    assert "[SQL:" not in line and "sqlalche.me" not in line
    return code, line


def test_a_database_of_a_newer_verity_is_named_not_an_internal_error(home, capsys) -> None:
    """A revision this code does not know (written by a newer Verity) raised Alembic's
    CommandError, shown as an internal error; `verity db upgrade` told to run itself."""
    Verity.open(load_settings()).close()
    engine = make_engine(load_settings().effective_database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    with pytest.raises(DatabaseError, match="revision ffff"):
        Verity.open(load_settings())
    for command in (("case", "list"), ("db", "upgrade")):
        code, line = run(capsys, *command)
        assert code == 1 and "revision ffff" in line and "newer Verity" in line
        assert "internal error" not in line and "run `verity db upgrade`" not in line


def test_db_upgrade_of_a_database_that_cannot_be_opened_is_one_clear_line(
    home, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("VERITY_DATABASE_URL", f"sqlite:///{tmp_path / 'no-such-folder' / 'v.db'}")
    code, line = run(capsys, "db", "upgrade")
    assert code == 1 and "cannot open the database" in line and "internal error" not in line


def test_a_database_that_refuses_writes_is_one_clear_line(
    home, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A read-only database (here SQLite opened read-only; a full disk reads the same) was an
    internal error carrying the SQL and its parameters: a new account's password hash."""
    Verity.open(load_settings()).close()
    db_file = load_settings().sqlite_path
    monkeypatch.setenv("VERITY_DATABASE_URL", f"sqlite:///file:{db_file}?mode=ro&uri=true")
    assert main(["case", "list"]) == 0  # reading still works
    capsys.readouterr()
    code, line = run(capsys, "case", "new", "blocked")
    assert code == 1 and "readonly database" in line and "internal error" not in line
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-password\n"))
    code, line = run(capsys, "users", "add", "bob", "--role", "admin", "--password-stdin")
    assert code == 1 and "readonly database" in line and "argon2" not in line
