"""Every built-in detector, registered from one explicit list, and their training recipes.

Composition roots (the CLI, the Celery worker entry, the dashboard app) import this package; its
import registers each detector below exactly once. Adding a detector means adding one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.detector import register_detector
from modalities.audio import lfcc_gmm
from modalities.visual import blend, eyes_teeth, metadata, spectrum, temporal

BUILTIN = (
    (metadata.SPEC, metadata.build),
    (lfcc_gmm.SPEC, lfcc_gmm.build),
    (spectrum.SPEC, spectrum.build),
    (blend.SPEC, blend.build),
    (temporal.SPEC, temporal.build),
    (eyes_teeth.SPEC, eyes_teeth.build),
)

for _spec, _factory in BUILTIN:
    register_detector(_spec, _factory)


def _train_lfcc_gmm(**kwargs: Any) -> dict[str, Any]:
    from modalities.audio.training import lfcc_gmm as recipe  # heavy: only when training

    return recipe.train(**kwargs)


def _train_spectrum(**kwargs: Any) -> dict[str, Any]:
    from modalities.visual.training import spectrum as recipe

    return recipe.train(**kwargs)


def _train_blend(**kwargs: Any) -> dict[str, Any]:
    from modalities.visual.training import blend as recipe

    return recipe.train(**kwargs)


# ``verity train NAME``: the recipe and the folder its weights ship in.
TRAINERS: dict[str, tuple[Callable[..., dict[str, Any]], Path]] = {
    lfcc_gmm.NAME: (_train_lfcc_gmm, lfcc_gmm.WEIGHTS_DIR),
    spectrum.NAME: (_train_spectrum, spectrum.WEIGHTS_DIR),
    blend.NAME: (_train_blend, blend.WEIGHTS_DIR),
}
