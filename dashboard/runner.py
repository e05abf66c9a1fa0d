"""How the Analyze page gets its work done: in this process, or as a job for the workers.

``run_analysis`` is the one seam: it takes an upload and a progress hook and returns the stored
analysis (the ``verity analyze --json`` object). Without a broker it analyses in the server
process. With ``VERITY_BROKER_URL`` set it stages and ingests the upload, records a job
(core.jobs.records), publishes it, and relays the job's progress from the database to the same
hook until a worker finishes it, so the page shows one progress bar either way and heavy models
stay on the workers.
"""

from __future__ import annotations

import time
from typing import Any

from core import services
from core.app import Verity
from core.errors import BrokerError, VerityError
from core.hooks import Hook
from core.uploads import Upload, analyze_upload, named_errors, staged

POLL_S = 0.5
WAIT_S = 3600.0


class JobFailedError(VerityError):
    """The job ended without an analysis (failed or cancelled); the message says why.

    The file itself was filed in the case before the job was queued (it is evidence that was
    received), so the page must not say that nothing was stored: see :attr:`filed`.
    """

    filed = True


def run_analysis(
    app: Verity, upload: Upload, case_ref: services.CaseRef, hook: Hook
) -> dict[str, Any]:
    if app.settings.broker_url is None:
        return analyze_upload(app, upload, case_ref, None, hook)
    return _run_as_job(app, upload, case_ref, hook)


def _run_as_job(
    app: Verity, upload: Upload, case_ref: services.CaseRef, hook: Hook
) -> dict[str, Any]:
    from core.jobs import records
    from core.jobs.celery_app import make_celery, publish

    with named_errors(upload.name), staged(app, upload) as path:
        submitted = records.submit(app, path, case_ref, None, hook, original_name=upload.name)
    job = submitted.job
    if submitted.created:
        try:
            publish(make_celery(app.settings), job["id"], job["queue"])
        except BrokerError as exc:
            raise JobFailedError(
                f"{upload.name}: job {job['id']} is recorded but not queued ({exc}); a worker "
                "publishes it again once the broker is back"
            ) from None
    deadline = time.monotonic() + WAIT_S
    while job["status"] in records.ACTIVE and time.monotonic() < deadline:
        hook(f"job {job['status']}", completed=int(100 * job["progress"]), total=100)
        time.sleep(POLL_S)
        job = records.get_job(app, job["id"])
    if job["status"] != "done" or not job.get("analysis_id"):
        reason = job.get("error") or f"job {job['id']} is {job['status']}"
        raise JobFailedError(f"{upload.name}: {reason}")
    hook("done", completed=100, total=100)
    return services.get_analysis(app, job["analysis_id"], via="dashboard")
