"""The one hook every pipeline step reports through.

``hook(step, completed=, total=, detail=)`` is called at each step; the CLI's progress bar, the
Celery task state and the dashboard's progress all implement this signature, so a pipeline reports
once and every listener hears it (as in pyannote.audio's pipeline hooks). ``completed`` may be
fractional: a detector that works through a long input in parts (lip-sync's passages) reports
its way through its own step (``MediaInput.progress``), with ``detail`` saying where it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Hook(Protocol):
    def __call__(
        self,
        step: str,
        *,
        completed: float | None = None,
        total: int | None = None,
        detail: str | None = None,
    ) -> None: ...


def null_hook(
    step: str,
    *,
    completed: float | None = None,
    total: int | None = None,
    detail: str | None = None,
) -> None:
    """A hook that listens to nothing."""


class FanOutHook:
    """Calls several hooks in order with the same report."""

    def __init__(self, hooks: Sequence[Hook]) -> None:
        self._hooks = tuple(hooks)

    def __call__(
        self,
        step: str,
        *,
        completed: float | None = None,
        total: int | None = None,
        detail: str | None = None,
    ) -> None:
        for hook in self._hooks:
            hook(step, completed=completed, total=total, detail=detail)


class RecordingHook:
    """Keeps every report; used by tests and by callers that want a step log."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None, int | None, str | None]] = []

    def __call__(
        self,
        step: str,
        *,
        completed: float | None = None,
        total: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.calls.append((step, completed, total, detail))
