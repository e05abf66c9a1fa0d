"""core.hooks drawn in the browser: one progress bar and a line naming the current step."""

from __future__ import annotations

from typing import Any

STEP_LABELS = {
    "hash": "hashing into the store",
    "probe": "reading the container",
    "credentials": "reading Content Credentials (C2PA)",
    "fuse": "fusing the evidence",
    "store": "storing the analysis and its custody event",
    "done": "done",
}
_BEFORE_DETECTORS = {"hash": 0.03, "probe": 0.08, "credentials": 0.12}


class StreamlitProgressHook:
    """Implements core.hooks.Hook over an ``st.progress`` bar; fractions only ever grow."""

    def __init__(self, bar: Any, label: str) -> None:
        self._bar = bar
        self._label = label
        self._fraction = 0.0
        self.steps: list[str] = []

    def __call__(
        self,
        step: str,
        *,
        completed: float | None = None,
        total: int | None = None,
        detail: str | None = None,
    ) -> None:
        self.steps.append(step)
        if step in _BEFORE_DETECTORS:
            fraction = _BEFORE_DETECTORS[step]
        elif step == "store":
            fraction = 0.97
        elif completed is not None and total:
            fraction = 0.15 + 0.8 * completed / total
        else:
            fraction = self._fraction
        self._fraction = max(self._fraction, min(fraction, 1.0))
        if step.startswith("detect:"):
            text = f"running {step.removeprefix('detect:')}"
            if detail:  # the detector's own part (passage 3 of 18)
                text += f" ({detail})"
        else:
            text = STEP_LABELS.get(step, step)
        self._bar.progress(self._fraction, text=f"{self._label}: {text}")
