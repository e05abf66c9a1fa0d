"""The runtime objects of one Verity installation, built explicitly from Settings."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from core import migrations
from core.config import Settings
from core.db import Database, make_engine
from core.detector import REGISTRY, DetectorRegistry
from core.errors import ConfigError, DatabaseError, display_name
from core.store import ContentStore


@dataclass
class Verity:
    settings: Settings
    db: Database
    store: ContentStore
    registry: DetectorRegistry

    @classmethod
    def open(cls, settings: Settings, registry: DetectorRegistry | None = None) -> Verity:
        """Open the installation at ``settings.home``; upgrades the embedded SQLite on first use.

        A server database (PostgreSQL) is never migrated behind the operator's back: when it is
        not at the code's revision this raises and names ``verity db upgrade``.
        """
        prepare_home(settings)
        engine = make_engine(settings.effective_database_url)
        try:
            current = migrations.current_revision(engine)
            head = migrations.head_revision()
            if current != head:  # at head, the revision is known: no second script read
                if settings.is_embedded_database:
                    migrations.upgrade(engine)  # refuses a revision it does not know
                else:
                    migrations.check_known(current)
                    raise DatabaseError(
                        f"database is at revision {current or 'none'}, this Verity needs {head}: "
                        "run `verity db upgrade`"
                    )
        except SQLAlchemyError as exc:
            engine.dispose()
            raise DatabaseError(f"cannot open the database: {_first_line(exc)}") from None
        except BaseException:
            engine.dispose()
            raise
        return cls(
            settings=settings,
            db=Database(engine),
            store=ContentStore(settings.objects_dir),
            registry=registry if registry is not None else REGISTRY,
        )

    @property
    def artifact_store(self) -> ContentStore:
        """Detector figures (heatmaps, spectrograms), content-addressed like media."""
        return ContentStore(self.settings.artifacts_dir)

    def close(self) -> None:
        self.db.dispose()


def upgrade_database(settings: Settings) -> str:
    """Upgrade the configured database to this code's schema (`verity db upgrade`); return its
    revision. A database that cannot be reached is one :class:`DatabaseError`, as for
    :meth:`Verity.open` (it was an internal error carrying SQLAlchemy's whole message)."""
    prepare_home(settings)  # an unusable home is a bad setting (exit 2), as for every command
    engine = make_engine(settings.effective_database_url)
    try:
        migrations.upgrade(engine)
        return migrations.current_revision(engine) or "none"
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot open the database: {_first_line(exc)}") from None
    finally:
        engine.dispose()


def prepare_home(settings: Settings) -> None:
    """Create the home folder, or say why it cannot hold an installation.

    A home Verity cannot use is the operator's setting, not a fault of ours, so it is a
    :class:`ConfigError` naming VERITY_HOME rather than an OSError from deep inside SQLite.
    """
    home = settings.home
    if home.exists() and not home.is_dir():
        raise ConfigError(f"VERITY_HOME {display_name(home)}: is a file, not a folder")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"VERITY_HOME {display_name(home)}: cannot be created ({problem})"
        ) from None
    # the embedded database writes its journal next to itself: a read-only home cannot hold it
    if settings.is_embedded_database and not os.access(home, os.W_OK | os.X_OK):
        raise ConfigError(f"VERITY_HOME {display_name(home)}: is not writable")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
