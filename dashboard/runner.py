"""How the Analyze page gets its work done: today in this process, later as jobs.

``run_analysis`` is the one seam: it takes an upload and a progress hook and returns the stored
analysis (the ``verity analyze --json`` object). It runs core.uploads.analyze_upload in the
server process now; when the Celery jobs land it can submit a job and relay the job's progress to
the same hook instead, and the page does not change.
"""

from __future__ import annotations

from typing import Any

from core.app import Verity
from core.hooks import Hook
from core.uploads import Upload, analyze_upload


def run_analysis(app: Verity, upload: Upload, case_ref: str | None, hook: Hook) -> dict[str, Any]:
    return analyze_upload(app, upload, case_ref, None, hook)
