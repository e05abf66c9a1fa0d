"""Every built-in detector, registered from one explicit list.

Composition roots (the CLI, the Celery worker entry, the dashboard app) import this package; its
import registers each detector below exactly once. Adding a detector means adding one line here.
"""

from __future__ import annotations

from core.detector import register_detector
from modalities.visual import metadata

BUILTIN = ((metadata.SPEC, metadata.build),)

for _spec, _factory in BUILTIN:
    register_detector(_spec, _factory)
