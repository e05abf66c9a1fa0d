"""Workers of the eval and training pools end when the command that started them is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A command that starts a two-worker pool, prints its workers' PIDs and then waits to be killed.
STARTER = """
import os, sys, time
from concurrent.futures import wait
from core.pools import spawn_pool

pool = spawn_pool(2)
futures = [pool.submit(time.sleep, 0.3) for _ in range(4)]
wait(futures)
print(" ".join(str(p) for p in pool._processes), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Running or sleeping; a zombie waiting for a reaper has ended."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] not in {"Z", "X"}


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_workers_exit_when_their_command_is_killed(how: signal.Signals) -> None:
    root = Path(__file__).resolve().parents[1]
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    workers: list[int] = []
    try:
        line = starter.stdout.readline() if starter.stdout else ""
        workers = [int(p) for p in line.split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        starter.send_signal(how)
        starter.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "pool workers outlived their command"
    finally:
        starter.kill()
        starter.wait()
        for pid in workers:  # a failed run leaves nothing behind either
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
