"""Alembic environment: runs on the engine handed over by core.migrations."""

from alembic import context
from sqlalchemy import Engine

from core.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("run migrations through `verity db upgrade` (core.migrations)")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; use `verity db upgrade`")
run_migrations_online()
