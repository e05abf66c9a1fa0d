"""``verity worker``, ``verity submit`` and ``verity jobs``: queued analyses.

With ``VERITY_BROKER_URL`` set, ``submit`` records each job and publishes its id; ``worker`` runs
them. Without a broker, ``submit`` runs each job in this process (the embedded default) and the
jobs table records it all the same. ``verity jobs --json`` prints one JSON object per job (JSON
Lines) with ``id``, ``status``, ``progress``, ``media_sha256``, ``analysis_id`` (when done) and
``error`` (when failed): a contract used outside Verity, only ever extended.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from core.app import Verity
from core.cli import render
from core.config import Settings, load_settings
from core.errors import EXIT_BAD_INPUT, BadInputError, BrokerError, ConfigError, VerityError
from core.jobs import import_plugins, records, runner

jobs_app = typer.Typer(
    help="Queued analyses: list (default), watch, show, cancel.", invoke_without_command=True
)
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON Lines on stdout.")]
STATUS_STYLE = {
    "queued": "cyan",
    "running": "yellow",
    "done": "green",
    "failed": "bold red",
    "cancelled": "dim",
}


def register(app: typer.Typer) -> None:
    """Add the job commands to the root ``verity`` app."""
    app.command("worker")(worker_command)
    app.command("submit")(submit_command)
    app.add_typer(jobs_app, name="jobs")


def _open() -> tuple[Settings, Verity]:
    settings = load_settings()
    import_plugins(settings)
    return settings, Verity.open(settings)


# ----------------------------------------------------------------------------------------- worker


def worker_command(
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Comma-separated: gpu, cpu, ledger.")
    ] = "gpu,cpu,ledger",
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, max=256, help="Processes.")
    ] = 1,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Worker name (default verity-PID@host).")
    ] = None,
    pool: Annotated[
        str, typer.Option("--pool", "-P", help="prefork, solo or threads.")
    ] = "prefork",
    loglevel: Annotated[str, typer.Option("--loglevel", "-l")] = "INFO",
) -> None:
    """Run a Celery worker for the given queues (needs VERITY_BROKER_URL)."""
    settings = load_settings()
    if settings.broker_url is None:
        raise ConfigError(
            "`verity worker` needs a broker: set VERITY_BROKER_URL (redis:// or amqp://)"
        )
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - set(records.QUEUES))
    if not wanted or unknown:
        raise BadInputError(
            f"unknown queue(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(records.QUEUES)}"
        )
    if pool not in {"prefork", "solo", "threads"}:
        raise BadInputError(f"unknown pool {pool!r}; use prefork, solo or threads")
    from core.jobs import worker  # composition root: imports the detectors and plugins

    node = name or f"verity-{os.getpid()}"
    node = node if "@" in node else f"{node}@{socket.gethostname()}"
    worker.app.worker_main(
        argv=[
            "worker",
            "--queues",
            ",".join(settings.jobs.queue_prefix + q for q in wanted),
            "--concurrency",
            str(concurrency),
            "--hostname",
            node,
            "--pool",
            pool,
            "--loglevel",
            loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )


# ----------------------------------------------------------------------------------------- submit


def submit_command(
    paths: Annotated[list[str], typer.Argument(help="Video, audio or image files.")],
    case: Annotated[str | None, typer.Option("--case", "-c", help="Case id or name.")] = None,
    detectors: Annotated[
        str | None, typer.Option("--detectors", "-d", help="Comma-separated detector names.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue analyses and print their job ids (run here when no broker is configured)."""
    names = [n.strip() for n in detectors.split(",") if n.strip()] if detectors else None
    if detectors is not None and not names:
        raise typer.BadParameter("--detectors needs at least one name")
    settings, verity = _open()
    for name in names or []:
        verity.registry.spec(name)
    celery = None
    if settings.broker_url is not None:
        from core.jobs.celery_app import make_celery

        celery = make_celery(settings)
    me = f"submit-{os.getpid()}@{socket.gethostname()}"
    failures = 0
    with render.make_progress(render.err.is_terminal) as progress:
        for path in map(Path, paths):
            hook = render.ProgressHook(progress, path.name)
            try:
                submitted = records.submit(verity, path, case, names, hook)
            except VerityError as exc:
                if exc.exit_code != EXIT_BAD_INPUT:
                    raise
                failures += 1
                _print_error(exc)
                continue
            job = submitted.job
            if submitted.created and celery is not None:
                from core.jobs.celery_app import publish

                try:
                    publish(celery, job["id"], job["queue"])
                except BrokerError as exc:
                    render.err.print(
                        f"verity: warning: job {job['id']} is recorded but not published ({exc}); "
                        "a worker publishes lost jobs again once the broker is back",
                        markup=False,
                    )
            elif job["status"] in records.ACTIVE and celery is None:
                # embedded: a job left queued or running by an interrupted submit runs now
                runner.run_with_retries(verity, job["id"], worker=me, listener=hook)
                job = records.get_job(verity, job["id"])
            _print_submitted(job, submitted.created, as_json)
    if failures:
        raise typer.Exit(EXIT_BAD_INPUT)


def _print_submitted(job: dict[str, Any], created: bool, as_json: bool) -> None:
    if as_json:
        render.print_json_line({**job, "created": created})
        return
    state = job["status"] if created else f"{job['status']} (same work submitted before)"
    extra = ""
    if job["status"] == "done":
        extra = f" analysis {job['analysis_id']}"
    elif job["status"] == "failed":
        extra = f" error: {job['error']}"
    render.out.print(f"{job['id']}  {state}  {job['original_name']}{extra}", markup=False)


# ------------------------------------------------------------------------------------------- jobs


@jobs_app.callback()
def jobs_list(
    ctx: typer.Context,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Follow until no listed job is active.")
    ] = False,
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="Only jobs in these states (a,b).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 200,
    interval: Annotated[float, typer.Option("--interval", min=0.1, max=60.0)] = 1.0,
    as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first; --watch follows their progress live."""
    if ctx.invoked_subcommand is not None:
        return
    statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
    bad = sorted(set(statuses or []) - set(records.STATUSES))
    if bad:
        known = ", ".join(records.STATUSES)
        raise BadInputError(f"unknown status {', '.join(bad)}; known: {known}")
    _settings, verity = _open()

    def fetch() -> list[dict[str, Any]]:
        return records.list_jobs(verity, statuses=statuses, limit=limit)

    if not watch:
        jobs = fetch()
        if as_json:
            for job in jobs:
                render.print_json_line(job)
        else:
            render.out.print(jobs_table(jobs))
        return
    if as_json:
        _watch_json(fetch, interval)
        return
    with Live(jobs_table(fetch()), console=render.out, refresh_per_second=4) as live:
        while True:
            jobs = fetch()
            live.update(jobs_table(jobs))
            if not any(_owed(job) for job in jobs):
                return
            time.sleep(interval)


def _owed(job: dict[str, Any]) -> bool:
    """Still to be waited for: active, and not lost (a lost job of a dead ``submit`` never
    finishes by itself, and --watch must not wait for it forever)."""
    return job["status"] in records.ACTIVE and not job.get("lost")


def _watch_json(fetch: Any, interval: float) -> None:
    """One line per change of a job's status or progress, until no listed job is active."""
    seen: dict[str, tuple[str, float]] = {}
    while True:
        jobs = fetch()
        for job in reversed(jobs):
            key = (job["status"], job["progress"])
            if seen.get(job["id"]) != key:
                seen[job["id"]] = key
                render.print_json_line(job)
        if not any(_owed(job) for job in jobs):
            return
        time.sleep(interval)


@jobs_app.command("show")
def jobs_show(job_id: str, as_json: JsonOpt = False) -> None:
    """Show one job (a unique prefix of 8+ hex digits is enough)."""
    _settings, verity = _open()
    job = records.get_job(verity, job_id)
    if as_json:
        render.print_json_line(job)
        return
    for key, value in job.items():
        if value is not None:
            render.out.print(f"{key:14} {value}", markup=False)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str, as_json: JsonOpt = False) -> None:
    """Cancel a queued or running job (a running one stops at its next step)."""
    _settings, verity = _open()
    job = records.cancel(verity, job_id)
    if as_json:
        render.print_json_line(job)
    else:
        render.out.print(f"cancelled job {job['id']}", markup=False)


@jobs_app.command("anchor")
def jobs_anchor() -> None:
    """Queue the anchoring of the newest ledger checkpoint on the `ledger` queue's worker."""
    settings = load_settings()
    if settings.broker_url is None:
        raise ConfigError("no broker configured: run `verity ledger anchor` here instead")
    from core.jobs.celery_app import make_celery, publish_anchor

    publish_anchor(make_celery(settings), settings)
    render.out.print("anchoring queued on the ledger queue", markup=False)


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Jobs ({len(jobs)})")
    for column in ("job", "status", "progress", "step", "file", "queue", "worker", "analysis"):
        table.add_column(column, overflow="fold")
    for job in jobs:
        style = STATUS_STYLE.get(job["status"], "")
        step = job["error"] if job["status"] == "failed" else job["step"]
        status = f"[{style}]{job['status']}[/]"
        if job.get("lost"):  # its process died: no heartbeat for a lease
            status += " [bold red](lost: no heartbeat)[/]"
            step = "its process stopped; a worker publishes it again, or submit the file again"
        table.add_row(
            job["id"][:12],
            status,
            _bar(job["progress"]),
            render.safe(step or ""),
            render.safe(job["original_name"]),
            job["queue"],
            render.safe(job["worker"] or ""),
            (job["analysis_id"] or "")[:12],
        )
    return table


def _bar(progress: float, width: int = 10) -> str:
    filled = round(progress * width)
    return "█" * filled + "░" * (width - filled) + f" {progress:4.0%}"


def _print_error(exc: VerityError) -> None:
    render.err.print(f"verity: error: {' '.join(str(exc).split())}", markup=False)
