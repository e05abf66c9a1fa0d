"""`verity users` and `verity dashboard` as a user runs them."""

from __future__ import annotations

import io
import json
import socket

import pytest

from core.cli import main
from core.cli.dashboard import app_file, streamlit_command
from core.config import load_settings

PASSWORD = "correct horse battery"


def test_cli_users_add_and_list(home, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "fran", "--role", "fact-checker", "--password-stdin"]) == 0
    assert "added fran (fact-checker)" in capsys.readouterr().out
    assert main(["users", "list", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["role"] == "fact-checker"
    assert "password" not in line


def test_cli_users_bad_input_exits_2(home, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "x", "--role", "boss", "--password-stdin"]) == 2
    assert "unknown role 'boss'" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "x", "--role", "auditor", "--password-stdin"]) == 2
    assert "at least 10" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # no terminal and no --password-stdin
    assert main(["users", "add", "x", "--role", "auditor"]) == 2
    assert main(["users", "list", "--json"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])
def test_cli_users_password_that_is_not_text_exits_2(
    home, capsys, monkeypatch: pytest.MonkeyPatch, errors: str
) -> None:
    """Bytes that are not UTF-8 on stdin were an internal error (UnicodeDecodeError in a UTF-8
    locale, UnicodeEncodeError when hashing under the C locale's surrogate escapes)."""
    raw = io.BytesIO(b"\xff\xfe" + PASSWORD.encode() + b"\n")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(raw, encoding="utf-8", errors=errors))
    assert main(["users", "add", "x", "--role", "auditor", "--password-stdin"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == "verity: error: the password on standard input is not UTF-8 text"
    assert main(["users", "list", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_dashboard_refuses_to_start_without_accounts(home, capsys) -> None:
    assert main(["dashboard", "--port", "1"]) == 2
    assert "verity users add NAME --role admin" in capsys.readouterr().err


def test_streamlit_runs_headless_private_and_with_xsrf(home) -> None:
    command = streamlit_command(load_settings(), "127.0.0.1", 8600)
    assert command[1:5] == ["-m", "streamlit", "run", str(app_file())]
    assert app_file().is_file()
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert flags["--server.enableXsrfProtection"] == "true"
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8600"
    assert int(flags["--server.maxUploadSize"]) == 1074  # 1 GiB default upload limit, in MB


def test_dashboard_refuses_a_busy_port(home, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "root", "--role", "admin", "--password-stdin"]) == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dashboard", "--port", str(port)]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err
