"""Running one job: claim it, check the stored bytes, compute the evidence, finish in one commit.

The same function runs inside a Celery worker and, when no broker is configured, inside
``verity submit`` itself; only the listener of its progress differs. A job whose media is damaged
or whose work raises a non-transient error is marked failed with its reason and the caller moves
on; a transient error is handed back to the caller to retry.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError

from core import services
from core.app import Verity
from core.detector import Detector
from core.errors import StoreError, TransientError, VerityError
from core.hooks import Hook, null_hook
from core.jobs import records


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: str  # done | failed | skipped (someone else finished it, or it was cancelled)
    analysis_id: str | None = None
    error: str | None = None


class JobHook:
    """The engine's hook, written to the job row (and passed on to another listener).

    Steps of the detection map onto progress 0.05..0.95; storing the analysis completes it. A
    report that finds the job no longer owed (cancelled, or finished by another worker) stops the
    run by raising :class:`records.JobInactiveError`. Writes are at most one per
    ``min_interval_s`` (the listener hears every step): short jobs would otherwise spend more time
    committing progress than detecting.
    """

    def __init__(
        self, app: Verity, job_id: str, listener: Hook = null_hook, min_interval_s: float = 0.25
    ) -> None:
        self._app = app
        self._job_id = job_id
        self._listener = listener
        self._min_interval_s = min_interval_s
        self._last_write = -math.inf
        self.progress = 0.0

    def __call__(
        self,
        step: str,
        *,
        completed: float | None = None,
        total: int | None = None,
        detail: str | None = None,
    ) -> None:
        if completed is not None and total:
            self.progress = max(self.progress, 0.05 + 0.9 * completed / total)
        self._listener(step, completed=completed, total=total, detail=detail)
        moment = time.monotonic()
        if moment - self._last_write >= self._min_interval_s:
            self._last_write = moment
            records.report_progress(self._app, self._job_id, self.progress, step)


class Heartbeat:
    """Beats for a running job from a thread, so a long detector is not taken for a dead worker."""

    def __init__(self, app: Verity, job_id: str, every_s: float) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(app, job_id, every_s), daemon=True, name=f"beat-{job_id[:8]}"
        )

    def _beat(self, app: Verity, job_id: str, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                if not records.heartbeat(app, job_id):
                    return
            except Exception:  # noqa: S112  a missed beat is retried; the job itself reports errors
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_job(
    app: Verity,
    job_id: str,
    *,
    worker: str,
    listener: Hook = null_hook,
    instances: Mapping[str, Detector] | None = None,
) -> JobOutcome:
    """Run ``job_id`` once. Raises :class:`TransientError` (job back to queued) to be retried."""
    try:
        job = records.claim(app, job_id, worker)
    except OperationalError as exc:
        raise TransientError(f"database unavailable: {_first_line(exc)}") from None
    if job is None:
        return JobOutcome(job_id, "skipped")
    hook = JobHook(app, job_id, listener)
    try:
        with Heartbeat(app, job_id, app.settings.jobs.heartbeat_s):
            hook("verify", completed=0, total=1, detail=job.media_sha256[:12])
            app.store.verify(job.media_sha256)  # analyse exactly the bytes that were hashed
            run = services.compute_evidence(
                app,
                job.media_input(app),
                job.detectors,
                hook,
                instances,
                options=job.options,  # as submitted, whatever this worker's settings say
                chunked=True,
            )
            listener("store")
            analysis_id = records.complete(app, job, run)
    except records.JobInactiveError:
        return JobOutcome(job_id, "skipped")
    except (TransientError, OperationalError) as exc:
        reason = str(exc) if isinstance(exc, TransientError) else _first_line(exc)
        # the database may be down too: then the job stays running and the sweep finds it
        with contextlib.suppress(OperationalError):
            records.requeue(app, job_id, reason)
        raise TransientError(reason) from None
    except StoreError as exc:
        return _failed(app, job_id, f"media: {exc}")
    except VerityError as exc:
        return _failed(app, job_id, str(exc))
    except Exception as exc:  # a poisoned job must not stop the queue: record why and move on
        return _failed(app, job_id, f"{type(exc).__name__}: {exc}")
    if analysis_id is None:
        return JobOutcome(job_id, "skipped")
    return JobOutcome(job_id, "done", analysis_id=analysis_id)


def run_with_retries(
    app: Verity,
    job_id: str,
    *,
    worker: str,
    listener: Hook = null_hook,
    sleep: Callable[[float], None] = time.sleep,
) -> JobOutcome:
    """The in-process runner: :func:`run_job`, retrying transient errors with backoff."""
    limit = app.settings.jobs.max_retries
    for attempt in range(limit + 1):
        try:
            return run_job(app, job_id, worker=worker, listener=listener)
        except TransientError as exc:
            if attempt == limit:
                return give_up(app, job_id, str(exc), attempt + 1)
            sleep(min(2.0**attempt, 30.0))
    raise AssertionError("unreachable")


def give_up(app: Verity, job_id: str, reason: str, tries: int) -> JobOutcome:
    return _failed(app, job_id, f"gave up after {tries} tries: {reason}")


def _failed(app: Verity, job_id: str, error: str) -> JobOutcome:
    records.fail(app, job_id, error)
    return JobOutcome(job_id, "failed", error=error)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
