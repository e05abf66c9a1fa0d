"""Shared fixtures: isolated installations on SQLite and PostgreSQL, and self-made media.

PostgreSQL tests run in a throwaway schema each (created, migrated, dropped). When the server is
unreachable they are skipped locally, but under ``CI=true`` a skipped service test fails the run.
"""

from __future__ import annotations

import os
import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import modalities  # noqa: F401  registers the built-in detectors
from core import samples
from core.app import Verity
from core.config import Settings, load_settings

PG_URL = os.environ.get(
    "VERITY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _service_unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and a service test cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        _service_unavailable(f"PostgreSQL at {PG_URL} unreachable: {exc}")
    return PG_URL


@pytest.fixture
def pg_schema_url(pg_server: str) -> Iterator[str]:
    """A URL whose connections live in a fresh schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg_server else "?"
    try:
        yield f"{pg_server}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "verity-home"
    monkeypatch.setenv("VERITY_HOME", str(home))
    monkeypatch.delenv("VERITY_DATABASE_URL", raising=False)
    monkeypatch.delenv("VERITY_CONFIG", raising=False)
    monkeypatch.setenv("VERITY_ACTOR", "tester@verity")
    return home


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def backend(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test on SQLite and on PostgreSQL (VERITY_DATABASE_URL set for the latter)."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_schema_url")
        monkeypatch.setenv("VERITY_DATABASE_URL", url)
        from core import migrations
        from core.db import make_engine

        engine = make_engine(url)
        migrations.upgrade(engine)
        engine.dispose()
    return str(request.param)


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings()


@pytest.fixture
def verity(backend: str, home: Path) -> Iterator[Verity]:
    app = Verity.open(load_settings())
    yield app
    app.close()


# ------------------------------------------------------------------------------------------ media


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def photo(media_dir: Path) -> Path:
    return samples.write_photo(media_dir / "photo.jpg")


@pytest.fixture(scope="session")
def clip(media_dir: Path) -> Path:
    return samples.write_clip(media_dir / "clip.mp4")


@pytest.fixture(scope="session")
def tone(media_dir: Path) -> Path:
    return samples.write_tone(media_dir / "tone.wav")


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` with a tiny (invalid) body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="session")
def bomb_png(media_dir: Path) -> Path:
    path = media_dir / "bomb.png"
    path.write_bytes(png_with_size(100_000, 100_000))
    return path


@pytest.fixture(scope="session")
def truncated_mp4(media_dir: Path, clip: Path) -> Path:
    path = media_dir / "truncated.mp4"
    data = clip.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="session")
def text_as_mp4(media_dir: Path) -> Path:
    path = media_dir / "notes.mp4"
    path.write_text("This is a text file, not a video.\n" * 20)
    return path
