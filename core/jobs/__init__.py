"""Analysis jobs: queued in the database, run by Celery workers or in the submitting process.

``records`` owns the jobs table (submit, claim, complete, cancel, find lost jobs); ``runner`` runs
one job; ``celery_app`` configures Celery and the worker's task; ``worker`` is the worker's
composition root (it imports the detectors). With no broker configured, ``verity submit`` runs each
job in its own process through the same runner, so the table looks the same either way.

>>> from core.jobs import records, runner  # doctest: +SKIP
>>> job = records.submit(verity, Path("clip.mp4")).job  # doctest: +SKIP
>>> runner.run_with_retries(verity, job["id"], worker="me").status  # doctest: +SKIP
'done'
"""

from __future__ import annotations

import importlib

from core.config import Settings
from core.errors import ConfigError


def import_plugins(settings: Settings) -> None:
    """Import the modules named in ``jobs.plugins`` (they register more detectors)."""
    for name in settings.jobs.plugins:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(f"cannot import plugin module {name!r}: {exc}") from None
