"""The runtime objects of one Verity installation, built explicitly from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from core import migrations
from core.config import Settings
from core.db import Database, make_engine
from core.detector import REGISTRY, DetectorRegistry
from core.errors import DatabaseError
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
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.effective_database_url)
        try:
            current = migrations.current_revision(engine)
            head = migrations.head_revision()
            if current != head:
                if settings.is_embedded_database:
                    migrations.upgrade(engine)
                else:
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


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
