"""Fault tests with real Celery workers (subprocesses) on real Redis and RabbitMQ and PostgreSQL.

Each test gets a throwaway PostgreSQL schema, its own VERITY_HOME and its own queue-name prefix,
so parallel runs do not collide. Workers run ``python -m core.cli worker`` from the repository root
in their own process group, and are killed in ``finally`` whatever happens. Short leases and
sweeps (seconds) make lost-job recovery quick enough for CI; the production defaults are minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from celery import Celery
from PIL import Image
from sqlalchemy import create_engine, func, select, text

from core import migrations
from core.db import Analysis, CustodyEvent, Job, LedgerAnchor, make_engine
from tests.conftest import _service_unavailable
from tests.test_anchor import anvil  # noqa: F401  the anvil fixture

# These tests stop and restart the one local Redis server: under `make test` (pytest-xdist) they
# run in one group, on one worker, beside test_dashboard_runner, the other Redis user.
pytestmark = [pytest.mark.services, pytest.mark.xdist_group("redis")]

REPO = Path(__file__).resolve().parent.parent
BROKERS = {
    "redis": os.environ.get("VERITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "rabbitmq": os.environ.get("VERITY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"),
}
REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip


def _reachable(url: str) -> bool:
    host, port = ("127.0.0.1", 6379) if url.startswith("redis") else ("127.0.0.1", 5672)
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Cluster:
    """One installation (home, schema, broker, queue prefix) with its worker subprocesses."""

    env: dict[str, str]
    url: str
    broker: str
    logs: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str, *extra_env: tuple[str, str], queues: str = "cpu") -> None:
        env = {**self.env, **dict(extra_env)}
        log = (self.logs / f"{name}.log").open("wb")
        self.workers[name] = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "worker", "-Q", queues, "-c", "1", "-n", name],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.workers[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=20)

    def stop_all(self) -> None:
        for name, proc in self.workers.items():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill(name)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "core.cli", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def submit(self, *args: str) -> list[dict[str, object]]:
        done = subprocess.run(
            [sys.executable, "-m", "core.cli", "submit", "--json", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    def jobs(self) -> list[Job]:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(select(Job)).all())  # type: ignore[arg-type]
        finally:
            engine.dispose()

    def count(self, what: object, *where: object) -> int:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                query = select(func.count()).select_from(what)  # type: ignore[arg-type]
                return int(conn.execute(query.where(*where)).scalar_one())  # type: ignore[arg-type]
        finally:
            engine.dispose()

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {what}; jobs: {self.describe()}\n{self.tail_logs()}")

    def describe(self) -> str:
        return "; ".join(f"{j.id[:8]} {j.status} {j.worker} {j.error}" for j in self.jobs())[:3000]

    def tail_logs(self) -> str:
        parts = []
        for path in sorted(self.logs.glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)


def _purge(broker: str, prefix: str) -> None:
    """Delete this test's queues (and, on Redis, kombu's binding keys for them)."""
    from kombu import Connection

    with contextlib.suppress(Exception), Connection(broker, connect_timeout=3) as conn:
        channel = conn.channel()
        for queue in ("gpu", "cpu", "ledger"):
            with contextlib.suppress(Exception):
                channel.queue_delete(prefix + queue)
    if broker.startswith("redis"):
        import redis

        with contextlib.suppress(Exception):
            client = redis.Redis.from_url(broker, socket_timeout=3)
            for pattern in (f"_kombu.binding.{prefix}*", f"_kombu.binding_permanent.{prefix}*"):
                for key in client.scan_iter(pattern):
                    client.delete(key)


@pytest.fixture
def cluster_factory(pg_schema_url: str, tmp_path: Path) -> Iterator[Callable[[str], Cluster]]:
    made: list[Cluster] = []

    def make(broker_name: str) -> Cluster:
        broker = BROKERS[broker_name]
        if not _reachable(broker):
            _service_unavailable(f"{broker_name} at {broker} unreachable")
        engine = make_engine(pg_schema_url)
        migrations.upgrade(engine)
        engine.dispose()
        prefix = f"t{uuid.uuid4().hex[:10]}."
        env = {
            **os.environ,
            "VERITY_HOME": str(tmp_path / "home"),
            "VERITY_DATABASE_URL": pg_schema_url,
            "VERITY_BROKER_URL": broker,
            "VERITY_ACTOR": "tester@verity",
            "VERITY_JOBS__QUEUE_PREFIX": prefix,
            "VERITY_JOBS__PLUGINS": '["tests.jobs_plugin"]',
            "VERITY_JOBS__LEASE_S": "3",
            "VERITY_JOBS__HEARTBEAT_S": "0.5",
            "VERITY_JOBS__SWEEP_S": "1",
            "VERITY_JOBS__VISIBILITY_TIMEOUT_S": "5",
            "PYTHONPATH": str(REPO),
        }
        env.pop("VERITY_CONFIG", None)
        logs = tmp_path / "logs"
        logs.mkdir(exist_ok=True)
        cluster = Cluster(env=env, url=pg_schema_url, broker=broker, logs=logs)
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop_all()
            _purge(cluster.broker, cluster.env["VERITY_JOBS__QUEUE_PREFIX"])


def tiny_images(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 16×16 PNGs (distinct bytes, so distinct media and jobs)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
        path = folder / f"img{i:04d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def analyses_for(cluster: Cluster, job_ids: list[str]) -> int:
    engine = make_engine(cluster.url)
    try:
        with engine.connect() as conn:
            media = conn.execute(select(Job.media_id).where(Job.id.in_(job_ids))).scalars().all()
            return int(
                conn.execute(
                    select(func.count()).select_from(Analysis).where(Analysis.media_id.in_(media))
                ).scalar_one()
            )
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("broker_name", ["redis", "rabbitmq"])
def test_kill_9_mid_job_completes_once_on_another_worker(
    cluster_factory: Callable[[str], Cluster], tmp_path: Path, broker_name: str
) -> None:
    cluster = cluster_factory(broker_name)
    [image] = tiny_images(tmp_path / "media", 1)
    sleep = ("VERITY_TEST_SLEEP_S", "4")
    cluster.start_worker("doomed", sleep)
    [job] = cluster.submit(str(image), "--detectors", "visual.test_sleep")
    job_id = str(job["id"])

    def running_on_doomed() -> bool:
        return any(j.id == job_id and j.status == "running" for j in cluster.jobs())

    cluster.wait_for(running_on_doomed, 60, "the first worker to take the job")
    cluster.kill("doomed")  # the whole process group: the worker and its pool child
    cluster.start_worker("survivor", sleep)

    def done() -> bool:
        return any(j.id == job_id and j.status == "done" for j in cluster.jobs())

    cluster.wait_for(done, 60, "the job to finish on the second worker")
    time.sleep(2)  # give a late duplicate delivery the chance to write twice (it must not)
    [final] = [j for j in cluster.jobs() if j.id == job_id]
    assert final.worker.startswith("survivor"), final.worker
    assert final.attempts >= 2
    assert analyses_for(cluster, [job_id]) == 1
    assert cluster.count(CustodyEvent, CustodyEvent.action == "analyze") == 1


def test_redis_restart_mid_run_loses_no_job(
    cluster_factory: Callable[[str], Cluster], tmp_path: Path
) -> None:
    cluster = cluster_factory("redis")
    # 14 s of work on two workers: the restart lands mid-run even on a loaded machine
    images = tiny_images(tmp_path / "media", 20)
    sleep = ("VERITY_TEST_SLEEP_S", "0.7")
    cluster.start_worker("w1", sleep)
    cluster.start_worker("w2", sleep)
    submitted = cluster.submit(*map(str, images), "--detectors", "visual.test_sleep")
    ids = [str(job["id"]) for job in submitted]

    def some_done() -> bool:
        return any(j.status == "done" for j in cluster.jobs())

    cluster.wait_for(some_done, 60, "a first job to finish")
    try:
        subprocess.run(["redis-cli", "shutdown", "nosave"], check=False, timeout=20)
        time.sleep(1)
    finally:
        subprocess.run(REDIS_START, check=True, timeout=20)
        for _ in range(50):
            if (
                subprocess.run(["redis-cli", "ping"], capture_output=True, check=False).returncode
                == 0
            ):
                break
            time.sleep(0.2)
    assert not all(j.status == "done" for j in cluster.jobs()), "restart came too late to test"

    def all_done() -> bool:
        return all(j.status == "done" for j in cluster.jobs())

    cluster.wait_for(all_done, 90, "every job to finish after the restart")
    assert analyses_for(cluster, ids) == len(ids)
    assert cluster.count(CustodyEvent, CustodyEvent.action == "analyze") == len(ids)


@pytest.mark.slow
def test_many_jobs_on_two_workers_and_a_poisoned_one(
    cluster_factory: Callable[[str], Cluster], tmp_path: Path
) -> None:
    count = int(os.environ.get("VERITY_TEST_BULK_JOBS", "200"))
    cluster = cluster_factory("redis")
    images = tiny_images(tmp_path / "media", count)
    submitted = cluster.submit(*map(str, images), "--detectors", "visual.metadata")
    assert len(submitted) == count and all(job["status"] == "queued" for job in submitted)
    poisoned = submitted[count // 2]
    home = Path(cluster.env["VERITY_HOME"])
    sha = str(poisoned["media_sha256"])
    stored = home / "objects" / sha[:2] / sha[2:4] / sha
    stored.chmod(stat.S_IRUSR | stat.S_IWUSR)
    stored.write_bytes(b"not the bytes that were hashed")
    cluster.start_worker("w1")
    cluster.start_worker("w2")

    def finished() -> bool:
        return all(j.status in {"done", "failed"} for j in cluster.jobs())

    cluster.wait_for(finished, 240, f"{count} jobs to finish")
    jobs = cluster.jobs()
    failed = [j for j in jobs if j.status == "failed"]
    assert [j.id for j in failed] == [poisoned["id"]]
    assert "corrupt" in failed[0].error
    assert sum(j.status == "done" for j in jobs) == count - 1
    # the Celery task state, under each job's id, says the same (Flower, AsyncResult)
    view = Celery(backend=cluster.broker)
    done = next(j for j in jobs if j.status == "done")
    assert view.AsyncResult(done.id).state == "DONE"
    assert view.AsyncResult(done.id).info["analysis_id"] == done.analysis_id
    assert view.AsyncResult(poisoned["id"]).state == "FAILED"
    assert {j.worker.split("/")[0].split("@")[0] for j in jobs if j.worker} == {"w1", "w2"}
    engine = create_engine(cluster.url)
    try:
        with engine.connect() as conn:
            total = conn.execute(text("select count(*), count(distinct media_id) from analyses"))
            assert tuple(total.one()) == (count - 1, count - 1)
    finally:
        engine.dispose()
    assert cluster.count(CustodyEvent, CustodyEvent.action == "analyze") == count - 1
    verify = subprocess.run(
        [sys.executable, "-m", "core.cli", "custody", "verify"],
        cwd=REPO,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr


@pytest.mark.chain
def test_anchoring_runs_on_the_ledger_queue(
    cluster_factory: Callable[[str], Cluster],
    tmp_path: Path,
    anvil: str,  # noqa: F811
) -> None:
    cluster = cluster_factory("redis")
    cluster.env["VERITY_CHAIN__RPC_URL"] = anvil
    [image] = tiny_images(tmp_path / "media", 1)
    registered = cluster.cli("register", str(image))
    assert registered.returncode == 0, registered.stderr
    cluster.start_worker("ledger", queues="ledger")
    queued = cluster.cli("jobs", "anchor")
    assert queued.returncode == 0 and "anchoring queued" in queued.stdout, queued.stderr
    cluster.wait_for(lambda: cluster.count(LedgerAnchor) == 1, 90, "the checkpoint anchored")
    audit = cluster.cli("ledger", "audit")
    assert audit.returncode == 0, audit.stderr + audit.stdout
