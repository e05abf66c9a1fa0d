"""Process pools whose workers end with the process that started them.

``eval``, ``calibrate`` and the training commands fan work out to spawned worker processes. A
worker of a plain ``ProcessPoolExecutor`` blocks on its call queue forever once its parent is
gone: a ``kill`` of the command (SIGTERM or SIGKILL, as a scheduler or a closed terminal
sends) skips the pool's shutdown, and every worker then stays behind, holding its memory and
its loaded models, until someone finds it. Each worker started here watches its parent and
exits as soon as it has been orphaned, whatever the parent died of.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

# How often a worker looks at its parent: a leftover worker lives at most this long.
WATCH_INTERVAL_S = 0.5


def spawn_pool(jobs: int, initializer: Callable[[], Any] | None = None) -> ProcessPoolExecutor:
    """A pool of ``jobs`` spawned workers; each runs ``initializer`` (a module-level function,
    so that it can be pickled) after it has started watching its parent."""
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer),
    )


def _start_worker(parent: int, initializer: Callable[[], Any] | None) -> None:
    threading.Thread(
        target=_exit_when_orphaned, args=(parent,), name="verity-orphan-watch", daemon=True
    ).start()
    if initializer is not None:
        initializer()


def _exit_when_orphaned(parent: int) -> None:
    """Exit at once when the parent has gone: the worker has been handed to another process
    (``getppid`` changes), so no result it could compute would ever be read."""
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL_S)
    os._exit(1)
