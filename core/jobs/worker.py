"""The Celery worker's composition root: ``celery -A core.jobs.worker worker`` or ``verity worker``.

Like the CLI, this module imports ``modalities`` so that every built-in detector is registered,
then the configured plugins; the task itself lives in core.jobs.celery_app.
"""

from __future__ import annotations

from typing import Any

from celery import Task

import modalities  # noqa: F401  registers the built-in detectors (composition root)
from core.app import Verity
from core.config import load_settings
from core.errors import BadInputError, ProvenanceError
from core.jobs import import_plugins
from core.jobs.celery_app import ANCHOR_TASK, install_worker, make_celery

settings = load_settings()
import_plugins(settings)
app = make_celery(settings)
install_worker(app, settings)


@app.task(name=ANCHOR_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def anchor_checkpoint(self: Task[Any, Any]) -> dict[str, Any]:
    """Anchor the newest ledger checkpoint on the configured chain (the ``ledger`` queue).

    Idempotent: an anchored root is not anchored again, and nothing is written unless the
    transaction is confirmed. A node that does not answer is retried like a transient error.
    """
    from core.cli.ledger import chain_backend  # finds or deploys the contract, as the CLI does
    from provenance import ledger

    verity = Verity.open(settings)
    try:
        result = ledger.newest_anchor(verity)  # already anchored: nothing to connect or deploy
        if result is None:
            result = ledger.anchor(
                verity, chain_backend(settings), confirmations=settings.chain.confirmations
            )
    except BadInputError as exc:  # nothing registered yet: nothing to anchor
        return {"anchored": False, "reason": str(exc)}
    except ProvenanceError as exc:
        tries = self.request.retries
        if tries >= settings.jobs.max_retries:
            raise
        raise self.retry(countdown=min(2.0**tries, 30.0), max_retries=None) from exc
    finally:
        verity.close()
    return {"anchored": True, **result}
