"""End to end in a real browser: `verity dashboard` on 127.0.0.1, driven by Playwright with the
Debian Chromium. A person signs in, uploads a clip, watches the progress, opens the case file and
reads the verdict and the plots. Screenshots are kept in ``test-artifacts/browser/`` (or
``$VERITY_TEST_ARTIFACTS``) for a person to look at after the run.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.cli import main
from tests.conftest import IN_CI

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
VERITY_BIN = Path(sys.executable).parent / "verity"
PASSWORD = "browser test password"

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def artifacts() -> Path:
    folder = Path(os.environ.get("VERITY_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def dashboard(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`verity dashboard` as a user starts it, with one analyst account; its URL."""
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        if IN_CI:
            pytest.fail(f"CI=true and the browser test cannot run: {message}")
        pytest.skip(message)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["users", "add", "ana", "--role", "analyst", "--password-stdin"]) == 0
    port = _free_port()
    log = home / "dashboard.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(VERITY_BIN), "dashboard", "--host", "127.0.0.1", "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 40
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"verity dashboard did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)  # the CLI forwards it to Streamlit
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):  # whatever of that session still runs
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_sign_in_analyse_and_read_the_case_file(
    dashboard: str, clip: Path, artifacts: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2600})
            page.set_default_timeout(20_000)
            page.goto(dashboard)
            page.get_by_label("User name").fill("ana")
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Cases")).to_be_visible()
            expect(page.get_by_text("Signed in as")).to_contain_text("ana")
            page.screenshot(path=artifacts / "1-signed-in.png")

            page.get_by_role("link", name="Analyze").click()
            expect(page.get_by_role("heading", name="Analyze")).to_be_visible()
            page.get_by_label("New case name").fill("Browser inquiry")
            page.locator("input[type=file]").set_input_files(str(clip))
            expect(page.get_by_text("clip.mp4").first).to_be_visible()
            page.get_by_role("button", name="Analyze", exact=True).click()
            progress = page.locator("[data-testid=stProgress]")
            expect(progress.first).to_be_visible()  # the live progress bar appears
            expect(page.get_by_text("clip.mp4: done")).to_be_visible(timeout=45_000)
            verdict = page.get_by_text(
                re.compile(r"^clip\.mp4: (authentic|manipulated|inconclusive)")
            )
            expect(verdict).to_be_visible()
            said = verdict.inner_text().split(": ")[1].split(" ")[0]
            page.screenshot(path=artifacts / "2-analysed.png")

            page.get_by_role("link", name="Open the case file").click()
            expect(page.get_by_role("heading", name="Case file")).to_be_visible()
            expect(page.get_by_text(f"Verdict: {said.capitalize()}")).to_be_visible()
            expect(page.get_by_text("p_fake").first).to_be_visible()
            charts = page.locator("[data-testid=stVegaLiteChart]")
            expect(charts).to_have_count(2, timeout=30_000)  # timeline and spectrogram
            expect(page.locator("video")).to_have_count(1)
            expect(page.get_by_text("custody intact")).to_be_visible()
            expect(page.get_by_text("ana@dashboard").first).to_be_visible()
            export = page.get_by_role("button", name="Export report")
            expect(export).to_be_visible()
            page.screenshot(path=artifacts / "3-case-file.png")
            # the signed report comes down as a zip with its .sig
            export.click()
            with page.expect_download() as download:
                page.get_by_role("button", name="Download report").click()
            saved = artifacts / download.value.suggested_filename
            download.value.save_as(saved)
            assert saved.stat().st_size > 0
        finally:
            browser.close()
    for name in ("1-signed-in.png", "2-analysed.png", "3-case-file.png"):
        assert (artifacts / name).stat().st_size > 10_000
