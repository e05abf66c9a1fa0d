"""Alembic migrations: upgrade to head matches the ORM, downgrade to base empties the schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from core import migrations
from core.db import Base, make_engine


def _roundtrip(url: str) -> None:
    engine = make_engine(url)
    try:
        migrations.upgrade(engine)
        assert migrations.current_revision(engine) == migrations.head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"migrations differ from the ORM: {diff}"
        migrations.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrations.upgrade(engine)  # and back up again
        assert "custody_events" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_sqlite_upgrade_compare_downgrade(tmp_path: Path) -> None:
    _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.services
def test_postgresql_upgrade_compare_downgrade(pg_schema_url: str) -> None:
    _roundtrip(pg_schema_url)
