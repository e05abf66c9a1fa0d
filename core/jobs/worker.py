"""The Celery worker's composition root: ``celery -A core.jobs.worker worker`` or ``verity worker``.

Like the CLI, this module imports ``modalities`` so that every built-in detector is registered,
then the configured plugins; the task itself lives in core.jobs.celery_app.
"""

from __future__ import annotations

import modalities  # noqa: F401  registers the built-in detectors (composition root)
from core.config import load_settings
from core.jobs import import_plugins
from core.jobs.celery_app import install_worker, make_celery

settings = load_settings()
import_plugins(settings)
app = make_celery(settings)
install_worker(app, settings)
