"""Jobs per minute with 1 and 2 Celery workers, and the per-job overhead against in-process runs.

Each configuration analyses its own fresh variants of the demo media (photo, talking-face clip,
tone; distinct bytes, so no job is deduplicated) with every built-in detector, in its own
PostgreSQL schema and queue prefix on the local Redis. Reference measured in the same run: the
same number of files through ``services.analyze`` (what ``verity analyze`` does) in one process.

    .venv/bin/python bench/jobs.py [--jobs 30] [--workers 1,2]

Worker start-up (imports, loading detectors) is excluded: workers are started and ready before
the clock starts. The clock covers submission (ingest + publish) until the last job is done.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from core import migrations, samples, services
from core.app import Verity
from core.config import load_settings
from core.db import Job, make_engine

REPO = Path(__file__).resolve().parent.parent
PG = os.environ.get("VERITY_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BROKER = os.environ.get("VERITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def demo_media(folder: Path, count: int, salt: int) -> list[Path]:
    """``count`` files cycling photo / clip / tone, each with distinct bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        variant = salt * 1000 + i
        if i % 3 == 0:
            paths.append(samples.write_photo(folder / f"p{i}.jpg", quality=60 + variant % 40))
        elif i % 3 == 1:
            paths.append(samples.write_clip(folder / f"c{i}.mp4", tone_hz=150.0 + variant))
        else:
            paths.append(samples.write_tone(folder / f"t{i}.wav", seconds=1.0 + variant / 10_000))
    return paths


class Schema:
    def __init__(self) -> None:
        self.name = f"bench_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(PG)
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
        self.url = f"{PG}?options=-csearch_path%3D{self.name}"
        engine = make_engine(self.url)
        migrations.upgrade(engine)
        engine.dispose()

    def drop(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


def env_for(home: Path, url: str, broker: str | None, prefix: str) -> dict[str, str]:
    env = {
        **os.environ,
        "VERITY_HOME": str(home),
        "VERITY_DATABASE_URL": url,
        "VERITY_JOBS__QUEUE_PREFIX": prefix,
        "PYTHONPATH": str(REPO),
    }
    env.pop("VERITY_BROKER_URL", None)
    if broker:
        env["VERITY_BROKER_URL"] = broker
    return env


def in_process(files: list[Path], tmp: Path) -> float:
    """The reference: services.analyze on each file, one process, PostgreSQL."""
    schema = Schema()
    try:
        os.environ.update(env_for(tmp / "ref-home", schema.url, None, ""))
        verity = Verity.open(load_settings())
        services.analyze(verity, files[0])  # warm-up: imports and detector weights
        t0 = time.perf_counter()
        for path in files[1:]:
            services.analyze(verity, path)
        elapsed = time.perf_counter() - t0
        verity.close()
        return elapsed / (len(files) - 1)
    finally:
        schema.drop()


def with_workers(files: list[Path], workers: int, tmp: Path) -> tuple[float, float, float]:
    """Wall time from submission to the last job done, the submission's share, mean job run."""
    schema = Schema()
    prefix = f"b{uuid.uuid4().hex[:8]}."
    env = env_for(tmp / f"home-{workers}", schema.url, BROKER, prefix)
    procs = []
    try:
        for n in range(workers):
            log = (tmp / f"w{workers}-{n}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "core.cli", "worker", "-Q", "cpu", "-n", f"b{n}"],
                    cwd=REPO,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        for n in range(workers):
            log_path = tmp / f"w{workers}-{n}.log"
            deadline = time.monotonic() + 120
            while b" ready." not in log_path.read_bytes():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {n} did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
        t0 = time.perf_counter()
        submitted = subprocess.run(
            [sys.executable, "-m", "core.cli", "submit", *map(str, files)],
            cwd=REPO,
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        if submitted.returncode != 0:
            raise RuntimeError(f"submit failed: {submitted.stderr}")
        submit_s = time.perf_counter() - t0
        engine = make_engine(schema.url)
        while True:
            with engine.connect() as conn:
                left = conn.execute(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.status.in_(["queued", "running"]))
                ).scalar_one()
            if left == 0:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        with engine.connect() as conn:
            rows = conn.execute(
                select(Job.started_at, Job.finished_at).where(Job.status == "done")
            ).all()
        engine.dispose()
        if len(rows) != len(files):
            raise RuntimeError(f"only {len(rows)} of {len(files)} jobs done")
        run_s = sum((end - start).total_seconds() for start, end in rows) / len(rows)
        return elapsed, submit_s, run_s
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        schema.drop()
        forget_queues(prefix)


def forget_queues(prefix: str) -> None:
    """Remove this run's queues and kombu's binding keys from the shared Redis."""
    import redis

    client = redis.Redis.from_url(BROKER, socket_timeout=3)
    for pattern in (
        f"{prefix}*",
        f"_kombu.binding.{prefix}*",
        f"_kombu.binding_permanent.{prefix}*",
    ):
        for key in client.scan_iter(pattern):
            client.delete(key)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    with tempfile.TemporaryDirectory(prefix="verity-bench-jobs-") as folder:
        tmp = Path(folder)
        ref_files = demo_media(tmp / "ref", args.jobs + 1, salt=0)
        per_file = in_process(ref_files, tmp)
        print(
            f"in-process reference (services.analyze): {per_file * 1000:.0f} ms per file, "
            f"{60 / per_file:.1f} files/min"
        )
        print(
            "| workers | jobs | wall time | of which `verity submit` | jobs/min | "
            "mean claim→done per job | wall per job − in-process per file |"
        )
        print("|---|---|---|---|---|---|---|")
        for salt, workers in enumerate(counts, start=1):
            files = demo_media(tmp / f"w{workers}", args.jobs, salt=salt)
            elapsed, submit_s, run_s = with_workers(files, workers, tmp)
            overhead = elapsed / args.jobs - per_file
            print(
                f"| {workers} | {args.jobs} | {elapsed:.1f} s | {submit_s:.1f} s | "
                f"{args.jobs / elapsed * 60:.1f} | {run_s * 1000:.0f} ms | "
                f"{overhead * 1000:+.0f} ms |"
            )


if __name__ == "__main__":
    main()
