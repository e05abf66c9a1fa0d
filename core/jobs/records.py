"""The jobs table: submitting, claiming, finishing and finding lost jobs.

Every change of a job's state is one conditional UPDATE (``... WHERE status IN (...)``), so two
workers that run the same job (a redelivered message, a job published again after its worker died)
cannot both finish it: the first commit wins, the second matches no row and rolls back whatever it
was about to write. Nothing here talks to the broker; core.jobs.dispatch does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from core import artifacts, services
from core.app import Verity
from core.calibration import CalibrationStore
from core.canonical import sha256_canonical
from core.db import Job, MediaItem
from core.detector import MediaInput
from core.engine import EngineRun, plan_detectors
from core.errors import MIN_ID_PREFIX, BadInputError, JobNotFoundError, TransientError
from core.hooks import Hook, null_hook
from core.media import MediaInfo

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING)
QUEUES = ("gpu", "cpu", "ledger")
STORE_ATTEMPTS = 5  # custody positions lost to a concurrent writer before giving up


class JobInactiveError(Exception):
    """The job was cancelled, finished or failed elsewhere while this run worked on it."""


def now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------- submitting


def detector_versions(
    app: Verity, media: MediaInput, names: list[str] | None
) -> tuple[dict[str, Any], str]:
    """What the analysis of ``media`` depends on, and the queue it belongs in.

    Each planned detector with its version, weights hash and the calibration in force, plus the
    fusion thresholds and fusion model: a job with the same media, case and versions is the same
    work, so it is done once.
    """
    calibrations = CalibrationStore(app.settings.home)
    options = services.detector_options(app)
    detectors = []
    queue = "cpu"
    for spec, applies in plan_detectors(app.registry, media, names, options):
        calibration = calibrations.get(spec, media.kind.value) if applies else None
        detectors.append(
            {
                "name": spec.name,
                "version": spec.version,
                "weights_sha256": spec.weights.sha256 if spec.weights else None,
                "calibration_version": calibration.version
                if calibration
                else spec.calibration_version,
                "applies": applies,
            }
        )
        if applies and spec.compute == "gpu":
            queue = "gpu"
    fusion_model = calibrations.fusion_model()
    versions = {
        "detectors": detectors,
        "fusion": app.settings.fusion.model_dump(),
        "fusion_model": fusion_model.version if fusion_model else None,
        "options": {name: dict(sorted(opts.items())) for name, opts in sorted(options.items())},
    }
    return versions, queue


@dataclass(frozen=True)
class Submitted:
    job: dict[str, Any]
    created: bool  # False: the same work was already queued, running or done


def submit(
    app: Verity,
    path: Path,
    case_ref: services.CaseRef = None,
    detectors: list[str] | None = None,
    hook: Hook = null_hook,
    *,
    original_name: str | None = None,
) -> Submitted:
    """Ingest ``path`` and record a queued job for it, or return the job already doing that work.

    The job is not yet published to a broker (core.jobs.dispatch does that after this commits), so
    a worker never sees a job id that is not in the database.
    """
    if detectors is not None:
        for name in detectors:
            app.registry.spec(name)  # unknown names fail before anything is written
    ingested = services.ingest(app, path, case_ref, hook, original_name=original_name)
    versions, queue = detector_versions(app, ingested.media_input(app), detectors)
    versions_key = sha256_canonical(versions)
    active_key = sha256_canonical(
        {"media": ingested.sha256, "case": ingested.case_id, "versions": versions_key}
    )
    for _ in range(2):  # a concurrent identical submission may win the unique key: read its job
        try:
            with app.db.session() as session:
                existing = session.scalars(select(Job).where(Job.active_key == active_key)).first()
                if existing is not None:
                    return Submitted(job_json(existing), created=False)
                job = Job(
                    status=QUEUED,
                    progress=0.0,
                    step="queued",
                    queue=app.settings.jobs.queue_prefix + queue,
                    case_id=ingested.case_id,
                    media_id=ingested.media_id,
                    media_sha256=ingested.sha256,
                    original_name=ingested.original_name,
                    detectors=detectors,
                    versions=versions,
                    versions_key=versions_key,
                    active_key=active_key,
                    attempts=0,
                    submitted_by=app.settings.actor,
                )
                session.add(job)
                session.flush()
                return Submitted(job_json(job), created=True)
        except IntegrityError:
            continue
    raise TransientError("a concurrent submission of the same media kept winning; try again")


# ---------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    case_id: str
    media_id: str
    media_sha256: str
    original_name: str
    detectors: list[str] | None
    info: MediaInfo
    attempts: int
    options: dict[str, dict[str, Any]] | None = None  # as submitted (None: recorded without)

    def media_input(self, app: Verity) -> MediaInput:
        return MediaInput(
            path=app.store.path_for(self.media_sha256),
            sha256=self.media_sha256,
            info=self.info,
            original_name=self.original_name,
        )


def claim(app: Verity, job_id: str, worker: str) -> ClaimedJob | None:
    """Mark the job running on ``worker``; None when it is already done, failed or cancelled.

    A job that is ``running`` can be claimed again: its first worker may have died. If it did not,
    both runs compute and only the first to finish writes (see :func:`complete`).
    """
    with app.db.session() as session:
        moment = now()
        claimed = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(ACTIVE))
            .values(
                status=RUNNING,
                attempts=Job.attempts + 1,
                worker=worker,
                started_at=moment,
                updated_at=moment,
                step="starting",
            )
        )
        if _rowcount(claimed) == 0:
            if session.get(Job, job_id) is None:
                raise JobNotFoundError(job_id)
            return None
        job = session.get(Job, job_id)
        assert job is not None
        media = session.get(MediaItem, job.media_id)
        assert media is not None
        return ClaimedJob(
            id=job.id,
            case_id=job.case_id,
            media_id=job.media_id,
            media_sha256=job.media_sha256,
            original_name=job.original_name,
            detectors=job.detectors,
            info=MediaInfo.model_validate(media.probe),
            attempts=job.attempts,
            options=(job.versions or {}).get("options"),
        )


def report_progress(app: Verity, job_id: str, progress: float, step: str) -> None:
    """Record progress; raises :class:`JobInactiveError` once the job is no longer owed."""
    with app.db.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(ACTIVE))
            .values(progress=min(max(progress, 0.0), 1.0), step=step[:200], updated_at=now())
        )
        if _rowcount(result) == 0:
            raise JobInactiveError(job_id)


def heartbeat(app: Verity, job_id: str) -> bool:
    """Touch ``updated_at`` so the job is not taken for lost; False once it is no longer owed."""
    with app.db.session() as session:
        result = session.execute(
            update(Job).where(Job.id == job_id, Job.status == RUNNING).values(updated_at=now())
        )
        return _rowcount(result) > 0


def complete(app: Verity, job: ClaimedJob, run: EngineRun) -> str | None:
    """Store the analysis and mark the job done, in one transaction; None if someone else did.

    The conditional UPDATE comes first: it locks the job row (PostgreSQL) or the database
    (SQLite), so a concurrent second run waits here and then finds the job done. The figures the
    run cites are persisted first and never taken back here: they are content-addressed, and a
    run that lost the race may have written the very blobs the winner cites.
    """
    artifacts.persist(app.artifact_store, run.artifacts)
    for _ in range(STORE_ATTEMPTS):
        try:
            with app.db.session() as session:
                moment = now()
                won = session.execute(
                    update(Job)
                    .where(Job.id == job.id, Job.status.in_(ACTIVE))
                    .values(status=DONE, progress=1.0, step="done", finished_at=moment)
                )
                if _rowcount(won) == 0:
                    session.rollback()
                    return None
                analysis = services.store_analysis(
                    session, app, run, case_id=job.case_id, media_id=job.media_id
                )
                session.execute(
                    update(Job)
                    .where(Job.id == job.id)
                    .values(analysis_id=analysis.id, updated_at=moment)
                )
                return analysis.id
        except IntegrityError:  # a concurrent writer took this custody position: try again
            continue
        except OperationalError as exc:
            reason = _first_line(exc)
            raise TransientError(f"database unavailable while storing: {reason}") from None
    raise TransientError("lost the custody chain position to other writers too often")


def fail(app: Verity, job_id: str, error: str) -> bool:
    """Mark the job failed with its reason; frees its key so the work can be submitted again."""
    with app.db.session() as session:
        moment = now()
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(ACTIVE))
            .values(
                status=FAILED,
                error=error[:2000],
                step="failed",
                active_key=None,
                finished_at=moment,
                updated_at=moment,
            )
        )
        return _rowcount(result) > 0


def requeue(app: Verity, job_id: str, reason: str) -> None:
    """Put a running job back to queued after a transient error (it will be tried again)."""
    with app.db.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == RUNNING)
            .values(status=QUEUED, step=f"retrying after: {reason}"[:200], updated_at=now())
        )


def cancel(app: Verity, ref: str) -> dict[str, Any]:
    """Cancel a queued or running job; a running one stops at its next progress report."""
    with app.db.session() as session:
        job = _resolve(session, ref)
        moment = now()
        result = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.status.in_(ACTIVE))
            .values(
                status=CANCELLED,
                step="cancelled",
                active_key=None,
                finished_at=moment,
                updated_at=moment,
            )
        )
        if _rowcount(result) == 0:
            raise BadInputError(
                f"job {job.id} is {job.status}; only queued or running jobs can be cancelled"
            )
        session.refresh(job)
        return job_json(job)


def find_lost(
    app: Verity, lease_s: float, queue_is_idle: Callable[[str], bool]
) -> list[tuple[str, str]]:
    """Jobs owed but lost: (id, queue) to publish again.

    A running job whose worker stopped beating for ``lease_s`` is lost. A queued job untouched for
    ``lease_s`` is lost only when its queue holds no waiting message (``queue_is_idle``): with a
    backlog the job may simply be waiting its turn, and publishing it again every lease would
    flood the broker; once the queue drains, a job still queued has no message left (a broker
    restarted without persistence drops them all). Each job is touched with a conditional UPDATE
    so that of several workers sweeping at once only one publishes it; publishing a job twice is
    harmless anyway (see :func:`claim` and :func:`complete`).
    """
    cutoff = now() - timedelta(seconds=lease_s)
    with app.db.session() as session:
        stale = session.execute(
            select(Job.id, Job.status, Job.queue, Job.updated_at).where(
                Job.status.in_(ACTIVE), Job.updated_at < cutoff
            )
        ).all()
    idle: dict[str, bool] = {}
    found = []
    for job_id, status, queue, seen in stale:
        if status == QUEUED:
            if queue not in idle:
                idle[queue] = queue_is_idle(queue)
            if not idle[queue]:
                continue
        with app.db.session() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status.in_(ACTIVE), Job.updated_at == seen)
                .values(status=QUEUED, step="published again (lost)", updated_at=now())
            )
            if _rowcount(result) > 0:
                found.append((job_id, queue))
    return found


# ---------------------------------------------------------------------------------------- reading


def get_job(app: Verity, ref: str) -> dict[str, Any]:
    with app.db.session() as session:
        return job_json(_resolve(session, ref), lease_s=app.settings.jobs.lease_s)


def list_jobs(
    app: Verity, *, statuses: Iterable[str] | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Jobs, newest first."""
    with app.db.session() as session:
        query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
        if statuses is not None:
            query = query.where(Job.status.in_(list(statuses)))
        lease_s = app.settings.jobs.lease_s
        return [job_json(job, lease_s=lease_s) for job in session.scalars(query)]


def _resolve(session: Session, ref: str) -> Job:
    """A full id, or a unique prefix of at least 8 hex digits as printed in tables."""
    ref = ref.strip().lower()
    job = session.get(Job, ref)
    hex_prefix = MIN_ID_PREFIX <= len(ref) < 32 and all(ch in "0123456789abcdef" for ch in ref)
    if job is None and hex_prefix:
        matches = session.scalars(
            select(Job).where(Job.id.startswith(ref, autoescape=True)).limit(2)
        ).all()
        if len(matches) > 1:
            raise BadInputError(f"job id prefix {ref!r} is ambiguous; give more digits")
        job = matches[0] if matches else None
    if job is None:
        raise JobNotFoundError(ref)
    return job


def job_json(job: Job, *, lease_s: float | None = None) -> dict[str, Any]:
    """The ``verity jobs --json`` contract: ``id``, ``status``, ``progress``, ``media_sha256``,
    ``analysis_id`` (set when done), ``error`` (set when failed); other fields may be added.

    ``lost`` (with ``lease_s``): a running job whose heartbeat stopped for a lease. Its process
    died (a killed worker, or a killed ``submit`` without a broker): a worker's sweep publishes
    it again; without a broker, nothing will until the file is submitted again.
    """
    lost = None
    if lease_s is not None:
        beat = job.updated_at if job.updated_at.tzinfo else job.updated_at.replace(tzinfo=UTC)
        lost = job.status == RUNNING and beat < now() - timedelta(seconds=lease_s)
    return {
        "id": job.id,
        "status": job.status,
        "progress": round(float(job.progress), 4),
        "media_sha256": job.media_sha256,
        "analysis_id": job.analysis_id if job.status == DONE else None,
        "error": job.error if job.status == FAILED else None,
        "step": job.step,
        "case_id": job.case_id,
        "media_id": job.media_id,
        "original_name": job.original_name,
        "queue": job.queue,
        "detectors": job.detectors,
        "versions_key": job.versions_key,
        "attempts": job.attempts,
        "worker": job.worker,
        "submitted_by": job.submitted_by,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "updated_at": _iso(job.updated_at),
        "lost": lost,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
