"""The Celery application: configuration, publishing, and the worker's task and signals.

Messages carry only a job id (JSON); everything else is in the database. Tasks are acknowledged
late and rejected back to the queue when their worker dies, one message is prefetched per process,
and the queues are ``gpu`` (deep models), ``cpu`` (decoding, hand-crafted detectors) and
``ledger`` (anchoring), optionally prefixed so several installations can share a broker.

The worker side (:func:`install_worker`) is bound by the composition root core.jobs.worker, which
imports the detectors; this module imports none.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from kombu import Queue
from kombu.exceptions import KombuError
from kombu.exceptions import OperationalError as KombuOperationalError

from core.app import Verity
from core.config import Settings
from core.detector import Detector
from core.errors import BrokerError, TransientError
from core.jobs import records, runner

ANALYZE_TASK = "verity.analyze_job"
ANCHOR_TASK = "verity.anchor"
log = logging.getLogger("verity.jobs")


def queue_names(settings: Settings) -> list[str]:
    return [settings.jobs.queue_prefix + name for name in records.QUEUES]


def make_celery(settings: Settings) -> Celery:
    """A Celery app for ``settings.broker_url``; raises BrokerError when none is configured."""
    if settings.broker_url is None:
        raise BrokerError("no broker configured: set VERITY_BROKER_URL (redis:// or amqp://)")
    prefix = settings.jobs.queue_prefix
    url = settings.broker_url.get_secret_value()
    # With Redis, the task state (PROGRESS with its step, then DONE, FAILED or SKIPPED with the
    # job's outcome) is kept beside the queues for an hour, under the job's id, so Flower,
    # `celery inspect` or AsyncResult(job_id) see how a job stands. AMQP keeps no state: there
    # the jobs table alone says it (it always does; it is the record). Writing the state never
    # holds a job up for long: one retry, and socket timeouts, for a Redis that hangs.
    backend = url if url.startswith(("redis://", "rediss://")) else None
    app = Celery("verity", broker=url, backend=backend, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,  # the outcome is set as the final state by the task itself
        result_expires=3600,
        result_backend_transport_options={"retry_policy": {"max_retries": 1}},
        redis_socket_connect_timeout=2,
        redis_socket_timeout=5,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in queue_names(settings)],
        task_default_queue=prefix + "cpu",
        task_routes={ANCHOR_TASK: {"queue": prefix + "ledger"}},
        task_create_missing_queues=False,
        broker_transport_options={"visibility_timeout": settings.jobs.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app


def publish(celery: Celery, job_id: str, queue: str) -> None:
    """Put one job id on its queue; BrokerError when the broker cannot take it."""
    try:
        celery.send_task(
            ANALYZE_TASK,
            args=[job_id],
            task_id=job_id,  # AsyncResult(job_id) reads its state
            queue=queue,
            ignore_result=True,  # as configured; else Redis subscribes to the result here first
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        )
    except (KombuError, KombuOperationalError, OSError) as exc:
        raise BrokerError(f"broker refused job {job_id}: {exc}") from None


def publish_anchor(celery: Celery, settings: Settings) -> None:
    """Ask the ``ledger`` queue's worker to anchor the newest checkpoint."""
    try:
        celery.send_task(
            ANCHOR_TASK,
            queue=settings.jobs.queue_prefix + "ledger",
            ignore_result=True,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        )
    except (KombuError, KombuOperationalError, OSError) as exc:
        raise BrokerError(f"broker refused the anchoring request: {exc}") from None


# ----------------------------------------------------------------------------------- worker side


class CeleryStateHook:
    """Mirrors pipeline steps into the Celery task state (seen by Flower, celery inspect and
    AsyncResult(job_id)) where the broker keeps one (Redis; see ``make_celery``)."""

    def __init__(self, task: Task[Any, Any]) -> None:
        self._task = task

    def __call__(
        self,
        step: str,
        *,
        completed: float | None = None,
        total: int | None = None,
        detail: str | None = None,
    ) -> None:
        meta = {"step": step, "completed": completed, "total": total, "detail": detail}
        self.set("PROGRESS", meta)

    def set(self, state: str, meta: dict[str, Any]) -> None:
        """Best effort: a broker restarting mid-job must not fail the job, whose record (the
        jobs table) is written anyway."""
        if self._task.request.id is None or self._task.backend is None:
            return
        try:
            self._task.update_state(state=state, meta=meta)
        except Exception as exc:  # the state is a view; the jobs table is the record
            log.debug("task state not updated (%s): %s", state, exc)


class _ProcessState:
    """One Verity and one set of detectors per worker process, built in worker_process_init."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verity: Verity | None = None
        self.instances: dict[str, Detector] = {}
        self._lock = threading.Lock()  # the threads pool loads lazily, from several threads

    def load(self) -> tuple[Verity, dict[str, Detector]]:
        with self._lock:
            if self.verity is None:
                verity = Verity.open(self.settings)
                self.instances = build_instances(verity)
                self.verity = verity
            return self.verity, self.instances


def build_instances(verity: Verity) -> dict[str, Detector]:
    """Every registered detector, built once; a GPU detector gets ``device="cuda"`` when present.

    A detector that cannot be built is left out: the engine builds it per job and records why.
    """
    cuda = _cuda_available()
    instances: dict[str, Detector] = {}
    for spec in verity.registry.specs():
        try:
            if spec.compute == "gpu" and cuda:
                instances[spec.name] = verity.registry.create(spec.name, device="cuda")
            else:
                instances[spec.name] = verity.registry.create(spec.name)
        except Exception as exc:  # recorded per job by the engine when it retries the build
            log.warning("detector %s not preloaded: %s", spec.name, exc)
    return instances


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class Sweeper:
    """In each worker's main process: publish again the jobs the database says are lost."""

    def _queue_is_idle(self, queue: str) -> bool:
        """No message waiting in ``queue`` (reserved and running ones are not counted)."""
        with self._celery.connection_for_write() as conn:
            # Declared (not just looked up): a broker restarted without persistence has lost the
            # queue's binding too, and messages published before it is bound again would vanish.
            bound = self._celery.amqp.queues[queue](conn.default_channel)
            bound.declare()
            _name, waiting, _consumers = bound.queue_declare()  # passive fails on empty Redis lists
            return int(waiting) == 0

    def __init__(self, settings: Settings, celery: Celery) -> None:
        self._settings = settings
        self._celery = celery
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="verity-sweeper")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        verity: Verity | None = None
        while not self._stop.wait(self._settings.jobs.sweep_s):
            try:
                verity = verity or Verity.open(self._settings)
                lost = records.find_lost(verity, self._settings.jobs.lease_s, self._queue_is_idle)
                for job_id, queue in lost:
                    publish(self._celery, job_id, queue)
                    log.warning("job %s was lost; published it again on %s", job_id, queue)
            except Exception as exc:  # broker or database down: try again next round
                log.warning("sweep failed: %s", exc)


def install_worker(celery: Celery, settings: Settings) -> None:
    """Register the analysis task and the worker signals on ``celery``."""
    state = _ProcessState(settings)
    sweeper = Sweeper(settings, celery)

    @worker_process_init.connect(weak=False)
    def _load_models(**_: Any) -> None:
        state.verity = None
        state.load()

    @worker_ready.connect(weak=False)
    def _start_sweeper(**_: Any) -> None:
        sweeper.start()

    @worker_shutdown.connect(weak=False)
    def _stop_sweeper(**_: Any) -> None:
        sweeper.stop()

    @celery.task(name=ANALYZE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
    def analyze_job(self: Task[Any, Any], job_id: str) -> dict[str, Any]:
        verity, instances = state.load()
        worker = f"{self.request.hostname}/{os.getpid()}"
        hook = CeleryStateHook(self)
        try:
            outcome = runner.run_job(
                verity, job_id, worker=worker, listener=hook, instances=instances
            )
        except TransientError as exc:
            tries = self.request.retries
            if tries >= settings.jobs.max_retries:
                outcome = runner.give_up(verity, job_id, str(exc), tries + 1)
            else:
                raise self.retry(countdown=min(2.0**tries, 30.0), max_retries=None) from exc
        hook.set(outcome.status.upper(), asdict(outcome))  # DONE, FAILED or SKIPPED
        return asdict(outcome)
