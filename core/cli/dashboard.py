"""``verity dashboard`` and ``verity users``: the web dashboard and its accounts.

The dashboard is a Streamlit app (``dashboard/app.py``) run as a child process, headless, with
usage statistics off, no browser opened and XSRF protection on. It reads the same settings as the
CLI (``VERITY_HOME``, ``config.toml``, ``VERITY_*``), so both work on one installation.
"""

from __future__ import annotations

import importlib.util
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from core import users
from core.app import Verity
from core.cli import render
from core.config import Settings, load_settings
from core.errors import BadInputError

users_app = typer.Typer(help="Dashboard accounts and their roles.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``dashboard`` and ``users`` to the root command (one line in core/cli/__init__.py)."""
    app.command("dashboard")(dashboard_command)
    app.add_typer(users_app, name="users")


def app_file() -> Path:
    """``dashboard/app.py`` of the installed package, located without importing it."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or not spec.submodule_search_locations:
        raise BadInputError("the dashboard package is not installed with this Verity")
    return Path(next(iter(spec.submodule_search_locations))) / "app.py"


def streamlit_command(settings: Settings, host: str, port: int) -> list[str]:
    upload_mb = max(1, math.ceil(settings.limits.upload_limit_bytes / 1_000_000))
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_file()),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.enableXsrfProtection",
        "true",
        "--server.enableCORS",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--server.maxUploadSize",
        str(upload_mb),
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise BadInputError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port"
            ) from None


def dashboard_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8501,
) -> None:
    """Start the web dashboard (Ctrl+C stops it); sign in with an account from `verity users`."""
    settings = load_settings()
    verity = Verity.open(settings)  # migrates the embedded database; fails early on a bad one
    try:
        if users.count_users(verity) == 0:
            raise BadInputError(
                "no dashboard accounts yet: create one with `verity users add NAME --role admin`"
            )
    finally:
        verity.close()
    _check_port(host, port)
    env = dict(os.environ, VERITY_HOME=str(settings.home))
    render.err.print(f"Verity dashboard on http://{host}:{port} (Ctrl+C stops it)")
    process = subprocess.Popen(streamlit_command(settings, host, port), env=env)  # noqa: S603

    def forward(signum: int, _frame: object) -> None:  # a service manager stops us: stop it too
        process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        code = 0
    if code:
        raise typer.Exit(1)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # bytes, decoded here: the text layer fails in a UTF-8 locale and smuggles surrogate
        # escapes through under the C locale, and either reached users as an internal error
        buffer = getattr(sys.stdin, "buffer", None)
        try:
            raw = buffer.readline() if buffer is not None else sys.stdin.readline().encode()
            line = raw.decode("utf-8")
        except UnicodeError:
            raise BadInputError("the password on standard input is not UTF-8 text") from None
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise BadInputError("no terminal to ask for a password: use --password-stdin")
    first = typer.prompt("password", hide_input=True)
    second = typer.prompt("repeat password", hide_input=True)
    if first != second:
        raise BadInputError("the two passwords differ")
    return str(first)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name: lower-case letters, digits, ._-")],
    role: Annotated[
        str, typer.Option("--role", "-r", help="analyst, fact-checker, auditor or admin.")
    ],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a dashboard account (the password is asked for, never given as an argument)."""
    parsed = users.parse_role(role)
    users.check_name(name.strip())
    password = _read_password(password_stdin)
    user = users.add_user(Verity.open(load_settings()), name, parsed, password)
    if as_json:
        render.print_json_line(user)
    else:
        render.out.print(f"added {render.safe(user['name'])} ({user['role']})")


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List accounts with their role and last sign-in."""
    accounts = users.list_users(Verity.open(load_settings()))
    if as_json:
        for account in accounts:
            render.print_json_line(account)
        return
    table = Table(title="Dashboard accounts")
    for column in ("name", "role", "active", "created", "last sign-in"):
        table.add_column(column)
    for a in accounts:
        table.add_row(
            render.safe(a["name"]),
            a["role"],
            "yes" if a["active"] else "no",
            a["created_at"],
            a["last_login_at"] or "never",
        )
    render.out.print(table)
