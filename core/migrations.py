"""Alembic, driven from code: ``verity db upgrade``, the automatic upgrade of the embedded
database, and the migration tests all go through these functions."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine

import core
from alembic import command
from core.errors import DatabaseError

SCRIPT_LOCATION = Path(core.__file__).resolve().parent.parent / "alembic"


def alembic_config(engine: Engine) -> Config:
    """A Config that runs migrations on ``engine``'s connections (see alembic/env.py)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config_without_engine())
    head = script.get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {SCRIPT_LOCATION}")
    return head


def alembic_config_without_engine() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_known(current: str | None) -> None:
    """Refuse a database whose revision these migrations do not hold: a newer Verity wrote it.

    Alembic says "Can't locate revision", which reached users as an internal error, and the
    server-database check told them to run `verity db upgrade`, which cannot help.
    """
    if current is None:
        return
    script = ScriptDirectory.from_config(alembic_config_without_engine())
    try:
        known = script.get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise DatabaseError(
            f"database is at revision {current}, which this Verity does not know (its newest is "
            f"{head_revision()}): it was written by a newer Verity; use that version or a later one"
        )


def upgrade(engine: Engine, revision: str = "head") -> None:
    check_known(current_revision(engine))
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine), revision)
