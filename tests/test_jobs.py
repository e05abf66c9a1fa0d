"""Jobs without a broker: the table, idempotency, cancel, poison, retries, lost jobs, and the CLI.

Runs on SQLite and a throwaway PostgreSQL schema (the ``backend`` fixture). Real Celery workers
against Redis and RabbitMQ are in test_jobs_services.py.
"""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from core import samples, services
from core.app import Verity
from core.cli import main
from core.config import load_settings
from core.db import Analysis, CustodyEvent, Job
from core.errors import TransientError
from core.hooks import RecordingHook
from core.jobs import records, runner
from tests.races import LosesRace

CONTRACT = {"id", "status", "progress", "media_sha256", "analysis_id", "error"}


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough that jobs split it into time chunks (default 4 s; visual.spectrum looks 8 s)."""
    path = tmp_path_factory.mktemp("jobs") / "long.mp4"
    return samples.write_clip(path, seconds=9.0, fps=10, size=(192, 144), keyframe_every=15)


def test_in_process_job_equals_analyze(
    verity: Verity, long_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core import engine

    clip = long_clip
    chunked: list[str] = []
    real = engine.analyze_in_chunks
    monkeypatch.setattr(
        engine,
        "analyze_in_chunks",
        lambda det, media, plan: chunked.append(det.spec.name) or real(det, media, plan),
    )
    submitted = records.submit(verity, clip, None, None)
    assert submitted.created and submitted.job["status"] == "queued"
    listener = RecordingHook()
    outcome = runner.run_with_retries(verity, submitted.job["id"], worker="t", listener=listener)
    assert outcome.status == "done" and outcome.analysis_id
    job = records.get_job(verity, submitted.job["id"])
    assert job["status"] == "done" and job["progress"] == 1.0
    assert job["analysis_id"] == outcome.analysis_id and job["error"] is None
    assert {"verify", "fuse", "done"} <= {call[0] for call in listener.calls}
    assert chunked == ["visual.spectrum"]  # the job split the video; `analyze` does not
    from_job = services.get_analysis(verity, outcome.analysis_id)
    direct = services.analyze(verity, clip)
    assert [
        (d["name"], d["status"], d["raw_score"], d["findings"]) for d in from_job["detectors"]
    ] == [(d["name"], d["status"], d["raw_score"], d["findings"]) for d in direct["detectors"]]
    assert from_job["verdict"] == direct["verdict"] and from_job["p_fake"] == direct["p_fake"]


def test_duplicate_submission_and_second_run_write_nothing(verity: Verity, photo: Path) -> None:
    first = records.submit(verity, photo, None, ["visual.metadata"])
    again = records.submit(verity, photo, None, ["visual.metadata"])
    assert not again.created and again.job["id"] == first.job["id"]
    other = records.submit(verity, photo, None, ["visual.spectrum"])
    assert other.created  # other detectors: other work

    job_id = first.job["id"]
    # two deliveries of the same message, both claimed before either finishes
    a = records.claim(verity, job_id, "worker-a")
    b = records.claim(verity, job_id, "worker-b")
    assert a is not None and b is not None and b.attempts == 2
    run_a = services.compute_evidence(verity, a.media_input(verity), a.detectors)
    run_b = services.compute_evidence(verity, b.media_input(verity), b.detectors)
    won = records.complete(verity, b, run_b)
    lost = records.complete(verity, a, run_a)
    assert won is not None and lost is None
    with verity.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Analysis)) == 1
        events = s.scalars(select(CustodyEvent).where(CustodyEvent.action == "analyze")).all()
        assert len(events) == 1
    # a third delivery after completion is a no-op
    assert runner.run_job(verity, job_id, worker="worker-c").status == "skipped"
    assert records.get_job(verity, job_id)["analysis_id"] == won
    assert services.check_custody(verity).events > 0


def test_cancel_then_resubmit(verity: Verity, photo: Path) -> None:
    job = records.submit(verity, photo, None, ["visual.metadata"]).job
    cancelled = records.cancel(verity, job["id"][:10])
    assert cancelled["status"] == "cancelled"
    assert runner.run_job(verity, job["id"], worker="w").status == "skipped"
    with pytest.raises(Exception, match="only queued or running"):
        records.cancel(verity, job["id"])
    again = records.submit(verity, photo, None, ["visual.metadata"])
    assert again.created and again.job["id"] != job["id"]


def test_cancel_while_running_stops_at_next_step(verity: Verity, photo: Path) -> None:
    job = records.submit(verity, photo, None, None).job

    def cancel_on_detect(step: str, **_: object) -> None:
        if step.startswith("detect:") and records.get_job(verity, job["id"])["status"] == "running":
            records.cancel(verity, job["id"])

    outcome = runner.run_job(verity, job["id"], worker="w", listener=cancel_on_detect)
    assert outcome.status == "skipped"
    assert records.get_job(verity, job["id"])["status"] == "cancelled"
    with verity.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Analysis)) == 0


def test_poisoned_job_fails_with_reason(verity: Verity, photo: Path, clip: Path) -> None:
    bad = records.submit(verity, photo, None, ["visual.metadata"]).job
    good = records.submit(verity, clip, None, ["visual.metadata"]).job
    stored = verity.store.path_for(bad["media_sha256"])
    stored.chmod(stat.S_IRUSR | stat.S_IWUSR)
    stored.write_bytes(b"\x00" * 100)  # the stored bytes no longer match their hash
    outcome = runner.run_with_retries(verity, bad["id"], worker="w")
    assert outcome.status == "failed"
    failed = records.get_job(verity, bad["id"])
    assert failed["status"] == "failed" and "corrupt" in failed["error"]
    assert failed["analysis_id"] is None
    assert runner.run_with_retries(verity, good["id"], worker="w").status == "done"


def test_transient_errors_are_retried_others_are_not(
    verity: Verity, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = records.submit(verity, photo, None, ["visual.metadata"]).job
    real_complete = records.complete
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> str | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TransientError("database restarting")
        return real_complete(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(records, "complete", flaky)
    sleeps: list[float] = []
    outcome = runner.run_with_retries(verity, job["id"], worker="w", sleep=sleeps.append)
    assert outcome.status == "done" and sleeps == [1.0]
    assert records.get_job(verity, job["id"])["attempts"] == 2

    stuck = records.submit(verity, photo, None, ["visual.spectrum"]).job
    monkeypatch.setattr(
        records, "complete", lambda *a, **k: (_ for _ in ()).throw(TransientError("down"))
    )
    outcome = runner.run_with_retries(verity, stuck["id"], worker="w", sleep=sleeps.append)
    assert outcome.status == "failed" and "gave up after 6 tries: down" in (outcome.error or "")

    broken = records.submit(verity, photo, None, ["visual.metadata", "visual.spectrum"]).job
    monkeypatch.setattr(records, "complete", lambda *a, **k: 1 / 0)
    outcome = runner.run_with_retries(verity, broken["id"], worker="w", sleep=sleeps.append)
    assert outcome.status == "failed" and "ZeroDivisionError" in (outcome.error or "")
    assert records.get_job(verity, broken["id"])["attempts"] == 1  # never retried


def test_find_lost_publishes_each_lost_job_once(verity: Verity, photo: Path, clip: Path) -> None:
    queued = records.submit(verity, photo, None, ["visual.metadata"]).job
    running = records.submit(verity, clip, None, ["visual.metadata"]).job
    assert records.claim(verity, running["id"], "dead-worker") is not None
    fresh = records.submit(verity, clip, None, ["visual.spectrum"]).job
    old = records.now() - timedelta(seconds=120)
    with verity.db.session() as s:
        s.execute(
            update(Job).where(Job.id.in_([queued["id"], running["id"]])).values(updated_at=old)
        )
    busy: list[str] = []
    lost = records.find_lost(verity, 60, lambda queue: busy.append(queue) is not None)
    assert lost == [(running["id"], "cpu")]  # a queued job behind a backlog is only waiting
    assert busy == ["cpu"]
    with verity.db.session() as s:
        s.execute(update(Job).where(Job.id == running["id"]).values(updated_at=old))
    lost = records.find_lost(verity, 60, lambda queue: True)  # queue drained: queued one is lost
    assert sorted(lost) == sorted([(queued["id"], "cpu"), (running["id"], "cpu")])
    assert fresh["id"] not in {job_id for job_id, _ in lost}
    assert records.find_lost(verity, 60, lambda queue: True) == []  # touched: not again at once
    assert records.get_job(verity, running["id"])["status"] == "queued"


# -------------------------------------------------------------------------------------------- CLI


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_submit_jobs_show_cancel(
    backend: str, capsys, photo: Path, tone: Path, text_as_mp4: Path
) -> None:
    code, out, err = run(capsys, "submit", str(photo), str(tone), str(text_as_mp4), "--json")
    assert code == 2 and "notes.mp4" in err and len(err.strip().splitlines()) == 1
    submitted = [json.loads(line) for line in out.splitlines()]
    assert [s["status"] for s in submitted] == ["done", "done"]

    code, out, _ = run(capsys, "jobs", "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert set(line) >= CONTRACT
        assert line["status"] == "done" and line["progress"] == 1.0
        assert len(line["media_sha256"]) == 64 and line["analysis_id"] and line["error"] is None
    assert {line["media_sha256"] for line in lines} == {s["media_sha256"] for s in submitted}

    job_id = lines[0]["id"]
    code, out, _ = run(capsys, "jobs", "show", job_id[:10], "--json")
    assert code == 0 and json.loads(out)["id"] == job_id
    code, out, err = run(capsys, "jobs", "cancel", job_id)
    assert code == 2 and "only queued or running" in err
    code, out, err = run(capsys, "jobs", "show", "0" * 32)
    assert code == 2 and "no job with id" in err and "prefix" not in err
    code, out, err = run(capsys, "jobs", "show", job_id[:6])  # tables print 8 digits
    assert code == 2 and "no job with id" in err and "at least 8 hex digits" in err
    code, out, err = run(capsys, "jobs", "--status", "bogus")
    assert code == 2 and "unknown status" in err
    code, out, _ = run(capsys, "jobs", "--watch", "--json", "--interval", "0.1")
    assert code == 0 and len(out.splitlines()) == 2  # nothing active: one snapshot, then done
    code, out, _ = run(capsys, "jobs")
    assert code == 0 and "done" in out

    code, out, _ = run(capsys, "submit", str(photo))  # same work: the finished job is returned
    assert code == 0 and "same work submitted before" in out


def test_cli_worker_needs_a_broker(home: Path, capsys) -> None:
    code, _, err = run(capsys, "worker")
    assert code == 2 and "VERITY_BROKER_URL" in err
    code, _, err = run(capsys, "jobs", "anchor")
    assert code == 2 and "verity ledger anchor" in err


def test_cli_worker_rejects_unknown_queue(
    home: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERITY_BROKER_URL", "redis://127.0.0.1:1/0")
    code, _, err = run(capsys, "worker", "--queues", "cpu,bogus")
    assert code == 2 and "bogus" in err


def test_cli_submit_to_a_broker_that_is_down_records_the_job_and_says_so(
    home: Path, capsys, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was "internal error: RuntimeError: Retry limit exceeded while trying to reconnect to
    the Celery result store backend" (publishing subscribed to the Redis result first)."""
    monkeypatch.setenv("VERITY_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    code, out, err = run(capsys, "submit", str(photo), "--json")
    assert code == 0 and "is recorded but not published" in err and "internal" not in err
    assert json.loads(out)["status"] == "queued"


def test_submit_survives_a_custody_collision(
    verity: Verity, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker writing the same case's chain makes ingest lose the race once: it tries again."""
    collide_once = LosesRace(services._file_in_case, "INSERT INTO custody_events")
    monkeypatch.setattr(services, "_file_in_case", collide_once)
    submitted = records.submit(verity, photo, None, ["visual.metadata"])
    assert submitted.created and collide_once.calls == 2
    assert verity.store.exists(submitted.job["media_sha256"])


def test_cli_embedded_submit_finishes_an_interrupted_job(backend: str, capsys, photo: Path) -> None:
    """A job left queued by an interrupted embedded submit runs when the same work is submitted."""
    verity = Verity.open(load_settings())
    try:
        left = records.submit(verity, photo, None, ["visual.metadata"]).job
    finally:
        verity.close()
    code, out, err = run(capsys, "submit", str(photo), "--detectors", "visual.metadata", "--json")
    assert code == 0, err
    [line] = [json.loads(x) for x in out.splitlines()]
    assert line["id"] == left["id"] and not line["created"]
    assert line["status"] == "done" and line["analysis_id"]


def test_a_job_runs_with_the_options_it_was_submitted_with(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The analyst submits with the neural VAD; the worker's own settings say energy: the job
    runs as submitted (its `versions` record the options), and the result says so."""
    import soundfile as sf

    from tests.modalities.audio_signals import formant_speech

    speech = tmp_path / "call.wav"
    sf.write(speech, formant_speech(8.0, seed=5), 16_000)
    monkeypatch.setenv("VERITY_MODELS__AUDIO_VAD", "silero")
    submitter = Verity.open(load_settings())
    try:
        submitted = records.submit(submitter, speech, None, ["audio.lfcc_gmm"])
    finally:
        submitter.close()
    monkeypatch.delenv("VERITY_MODELS__AUDIO_VAD")
    worker = Verity.open(load_settings())
    try:
        assert worker.settings.models.audio_vad == "energy"
        outcome = runner.run_with_retries(worker, submitted.job["id"], worker="w")
        assert outcome.status == "done" and outcome.analysis_id
        (from_job,) = services.get_analysis(worker, outcome.analysis_id)["detectors"]
        assert from_job["options"] == {"vad": "silero"}
        (direct,) = services.analyze(worker, speech, detectors=["audio.lfcc_gmm"])["detectors"]
        assert direct["options"] == {} and direct["raw_score"] != from_job["raw_score"]
    finally:
        worker.close()


def _redis_up(host: str = "127.0.0.1", port: int = 6379) -> bool:
    import socket

    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def test_progress_and_outcome_reach_the_celery_task_state(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the app had no result backend: every PROGRESS update was dropped, and Flower or
    AsyncResult(job_id) saw nothing. With Redis the state is kept under the job's id."""
    import uuid

    from core.jobs.celery_app import CeleryStateHook, make_celery

    if not _redis_up():
        pytest.skip("Redis at 127.0.0.1:6379 unreachable")
    monkeypatch.setenv("VERITY_BROKER_URL", "redis://127.0.0.1:6379/14")
    app = make_celery(load_settings())
    seen: list[tuple[str, object]] = []

    @app.task(bind=True)
    def job(self) -> None:  # type: ignore[no-untyped-def]
        hook = CeleryStateHook(self)
        hook("detect", completed=0.5, total=2, detail="visual.metadata")
        now = app.AsyncResult(self.request.id)
        seen.append((now.state, now.info))
        hook.set("DONE", {"status": "done", "analysis_id": "a1"})

    job_id = uuid.uuid4().hex
    job.apply(task_id=job_id)
    try:
        assert seen == [
            (
                "PROGRESS",
                {"step": "detect", "completed": 0.5, "total": 2, "detail": "visual.metadata"},
            )
        ]
        final = app.AsyncResult(job_id)
        assert final.state == "DONE" and final.info == {"status": "done", "analysis_id": "a1"}
    finally:
        app.backend.forget(job_id)
    # a broker down mid-job costs the view, never the job
    monkeypatch.setenv("VERITY_BROKER_URL", "redis://127.0.0.1:1/14")
    down = make_celery(load_settings())

    @down.task(bind=True)
    def unlucky(self) -> str:  # type: ignore[no-untyped-def]
        down.backend.retry_policy = {"max_retries": 0}
        CeleryStateHook(self)("detect", completed=0.1)
        return "finished"

    assert unlucky.apply(task_id=uuid.uuid4().hex).get() == "finished"


def test_a_running_job_whose_process_died_is_shown_lost_and_not_waited_for(
    backend: str, capsys, photo: Path
) -> None:
    """A `submit` killed mid-job (no broker) left its job 'running' for good, and `jobs --watch`
    never returned. A running job without a heartbeat for a lease is now `lost`."""
    code, out, _ = run(capsys, "submit", str(photo), "--json")
    job_id = json.loads(out)["id"]
    app = Verity.open(load_settings())
    lease = app.settings.jobs.lease_s
    beat = records.now() - timedelta(seconds=lease / 2)
    with app.db.session() as session:  # as the killed process left it: running, still beating
        session.execute(
            update(Job).where(Job.id == job_id).values(status="running", updated_at=beat)
        )
    code, out, _ = run(capsys, "jobs", "--json")
    assert json.loads(out)["status"] == "running" and json.loads(out)["lost"] is False
    with app.db.session() as session:  # a lease later: its heartbeat has stopped
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(updated_at=records.now() - timedelta(seconds=2 * lease))
        )
    app.close()
    code, out, _ = run(capsys, "jobs", "--json")
    assert json.loads(out)["lost"] is True
    code, out, _ = run(capsys, "jobs", "--watch", "--json", "--interval", "0.1")
    assert code == 0 and json.loads(out)["lost"] is True  # returns: nothing left to wait for
    code, out, _ = run(capsys, "jobs")
    assert "lost" in out  # the table folds its narrow columns: the word is enough
