"""The database: typed ORM models, engines and sessions.

SQLite in ``VERITY_HOME`` is the embedded default (WAL journal with full synchronous commits, so a
power cut cannot lose a committed custody event); PostgreSQL is used the same way through
``VERITY_DATABASE_URL``. The schema is owned by Alembic (``alembic/``); the embedded database is
upgraded automatically on first use, a server database by ``verity db upgrade``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)

from core.config import database_url_problem, mask_url
from core.errors import ConfigError, DatabaseError

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite returns naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))

    media_links: Mapped[list[CaseMedia]] = relationship(back_populates="case")


class MediaItem(Base):
    """One file's bytes, identified by SHA-256; the same bytes are one item whatever their name."""

    __tablename__ = "media_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    duration_s: Mapped[float | None] = mapped_column(Float)
    probe: Mapped[dict[str, Any]] = mapped_column(JSON)
    c2pa: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseMedia(Base):
    """A media item filed in a case, with the name the client gave it (metadata only)."""

    __tablename__ = "case_media"
    __table_args__ = (UniqueConstraint("case_id", "media_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media_items.id"), index=True)
    original_name: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by: Mapped[str] = mapped_column(String(200))

    case: Mapped[Case] = relationship(back_populates="media_links")
    media: Mapped[MediaItem] = relationship()


class Analysis(Base):
    __tablename__ = "analyses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media_items.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16))
    p_fake: Mapped[float | None] = mapped_column(Float)
    llr: Mapped[float | None] = mapped_column(Float)
    fusion_rule: Mapped[str] = mapped_column(String(64))
    fusion_details: Mapped[dict[str, Any]] = mapped_column(JSON)
    engine_version: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))

    case: Mapped[Case] = relationship()
    media: Mapped[MediaItem] = relationship()
    results: Mapped[list[DetectorResult]] = relationship(
        back_populates="analysis", order_by="DetectorResult.position"
    )


class DetectorResult(Base):
    __tablename__ = "detector_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    analysis_id: Mapped[str] = mapped_column(ForeignKey("analyses.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    detector: Mapped[str] = mapped_column(String(100))
    modality: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(32))
    weights_sha256: Mapped[str | None] = mapped_column(String(64))
    calibration_version: Mapped[str | None] = mapped_column(String(64))
    calibrated: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    raw_score: Mapped[float | None] = mapped_column(Float)
    llr: Mapped[float | None] = mapped_column(Float)
    p_fake: Mapped[float | None] = mapped_column(Float)
    fusion_weight: Mapped[float] = mapped_column(Float)
    elapsed_s: Mapped[float] = mapped_column(Float)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    analysis: Mapped[Analysis] = relationship(back_populates="results")


class CustodyEvent(Base):
    """One link of a hash chain; see core.custody. Text columns keep the hashed values exact."""

    __tablename__ = "custody_events"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_custody_events_chain_seq"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    chain: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[str | None] = mapped_column(String(32))
    object_sha256: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64))


class LedgerLeaf(Base):
    """One registration in the append-only Merkle log (provenance.ledger); ``record`` is the
    canonical JSON whose RFC 6962 leaf hash is ``leaf_hash``."""

    __tablename__ = "ledger_leaves"

    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    media_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))
    record: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerCheckpoint(Base):
    """A signed statement of the log's size and root (provenance.receipts.SignedCheckpoint)."""

    __tablename__ = "ledger_checkpoints"

    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    frontier: Mapped[str | None] = mapped_column(Text)  # perfect-subtree hashes, for appends
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerAnchor(Base):
    """A checkpoint root anchored on chain, with the transaction receipt and block header kept
    verbatim because nodes may prune them."""

    __tablename__ = "ledger_anchors"

    root_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tree_size: Mapped[int] = mapped_column(Integer)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    block_timestamp: Mapped[int] = mapped_column(BigInteger)
    transaction: Mapped[str] = mapped_column(Text, default="{}")
    receipt: Mapped[str] = mapped_column(Text)
    header: Mapped[str] = mapped_column(Text)
    anchored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """A dashboard account (core.users): a role and an argon2id hash, never the password."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(Base):
    """One queued analysis (core.jobs). The table, not the broker, is the record of what is owed:
    a message lost with a broker is published again from here, and a job's completion and its
    analysis commit in one transaction guarded by ``status`` so a second run writes nothing.

    ``active_key`` (media, case, detector and calibration versions) is unique while a job is
    queued, running or done, so a duplicate submission finds the existing job; it is cleared when
    a job fails or is cancelled so the same work can be submitted again.
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    step: Mapped[str | None] = mapped_column(String(200))
    queue: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    media_id: Mapped[str] = mapped_column(ForeignKey("media_items.id"), index=True)
    media_sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_name: Mapped[str] = mapped_column(Text)
    detectors: Mapped[list[str] | None] = mapped_column(JSON)
    versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    versions_key: Mapped[str] = mapped_column(String(64))
    active_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    analysis_id: Mapped[str | None] = mapped_column(ForeignKey("analyses.id"))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    submitted_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --------------------------------------------------------------------------- engines and sessions


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``. On PostgreSQL, ``?options=-csearch_path%3DNAME`` picks a schema.

    A URL that cannot be parsed, or that names a dialect or driver this installation lacks, is a
    bad setting (:class:`ConfigError`, exit 2).
    """
    problem = database_url_problem(url)
    if problem is not None:
        raise ConfigError(f"invalid setting database_url: {problem}")
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        # the operator's setting names a database or driver that is not here: exit 2, as for a
        # URL that cannot be parsed (it was exit 1, as if Verity had failed)
        raise ConfigError(
            f"invalid setting database_url: {mask_url(url)!r} names a database or driver this "
            f"installation cannot use ({_first_line(exc)}); Verity uses sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/NAME"
        ) from None
    except (SQLAlchemyError, ValueError) as exc:
        raise DatabaseError(f"cannot use database URL: {_first_line(exc)}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """An engine and its session factory; ``session()`` commits on success, rolls back on error."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def sqlite_file(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    return Path(engine.url.database)


def database_failure(exc: SQLAlchemyError) -> DatabaseError:
    """One line for a database that failed mid-command (read-only, full, gone away).

    The driver's own words only: SQLAlchemy's message goes on with the statement and its
    parameters, which hold evidence metadata and, for a new account, its password hash.
    """
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = _first_line(cause)
    return DatabaseError(f"the database failed: {reason}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
