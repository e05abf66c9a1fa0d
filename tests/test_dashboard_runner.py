"""dashboard.runner: with a broker, an upload becomes a job and its progress is relayed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.app import Verity
from core.config import load_settings
from core.jobs import records
from core.jobs import runner as job_runner
from core.uploads import Upload
from dashboard import runner

# names the local Redis server, which test_jobs_services stops and restarts: one xdist group
pytestmark = pytest.mark.xdist_group("redis")


@pytest.fixture
def with_broker(backend: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Verity:
    monkeypatch.setenv("VERITY_BROKER_URL", "redis://127.0.0.1:6379/15")
    return Verity.open(load_settings())


def test_upload_runs_as_a_job_and_the_page_gets_the_analysis(
    with_broker: Verity, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[str] = []

    def worker_runs_it(celery, job_id: str, queue: str) -> None:  # a worker, in this thread
        published.append(queue)
        job_runner.run_with_retries(with_broker, job_id, worker="test-worker")

    monkeypatch.setattr("core.jobs.celery_app.publish", worker_runs_it)
    steps: list[str] = []

    def hook(step: str, **_: object) -> None:
        steps.append(step)

    with photo.open("rb") as stream:
        result = runner.run_analysis(with_broker, Upload("my photo.jpg", stream), None, hook)
    (job,) = records.list_jobs(with_broker)
    assert published == [job["queue"]] and job["status"] == "done"
    assert job["analysis_id"] == result["analysis_id"]
    assert result["media"]["original_name"] == "my photo.jpg"
    assert steps[-1] == "done"


def test_a_failed_job_is_reported_not_hidden(
    with_broker: Verity, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def worker_fails_it(celery, job_id: str, queue: str) -> None:
        records.fail(with_broker, job_id, "worker crashed on purpose")

    monkeypatch.setattr("core.jobs.celery_app.publish", worker_fails_it)
    with photo.open("rb") as stream, pytest.raises(runner.JobFailedError, match="on purpose"):
        runner.run_analysis(with_broker, Upload("p.jpg", stream), None, lambda *a, **k: None)


def test_a_broker_that_is_down_is_one_clear_error_and_the_job_stays_queued(
    backend: str, home: Path, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Publishing subscribed to the Redis result first, whose RuntimeError ("Retry limit
    exceeded … the Celery application must be restarted") reached the page as a traceback."""
    monkeypatch.setenv("VERITY_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    app = Verity.open(load_settings())
    with photo.open("rb") as stream, pytest.raises(runner.JobFailedError) as raised:
        runner.run_analysis(app, Upload("p.jpg", stream), None, lambda *a, **k: None)
    (job,) = records.list_jobs(app)
    assert job["status"] == "queued"  # filed; a worker's sweep publishes it later
    assert raised.value.filed and f"job {job['id']} is recorded but not queued" in str(raised.value)
