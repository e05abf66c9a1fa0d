"""Every built-in detector, registered from one explicit list, and their training recipes.

Composition roots (the CLI, the Celery worker entry, the dashboard app) import this package; its
import registers each detector below exactly once. Adding a detector means adding one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.detector import register_detector
from modalities.audio import cnn as audio_cnn
from modalities.audio import hf as audio_hf
from modalities.audio import lfcc_gmm, synthesis_traces
from modalities.lipsync import av_offset, syncnet
from modalities.visual import blend, eyes_teeth, metadata, spectrum, temporal
from modalities.visual import hf as visual_hf

BUILTIN = (
    (metadata.SPEC, metadata.build),
    (lfcc_gmm.SPEC, lfcc_gmm.build),
    (synthesis_traces.SPEC, synthesis_traces.build),
    (audio_cnn.SPEC, audio_cnn.build),
    (audio_hf.SPEC, audio_hf.build),
    (visual_hf.SPEC, visual_hf.build),
    (spectrum.SPEC, spectrum.build),
    (blend.SPEC, blend.build),
    (temporal.SPEC, temporal.build),
    (eyes_teeth.SPEC, eyes_teeth.build),
    (av_offset.SPEC, av_offset.build),
    (syncnet.SPEC, syncnet.build),
)

for _spec, _factory in BUILTIN:
    register_detector(_spec, _factory)


def _train_lfcc_gmm(**kwargs: Any) -> dict[str, Any]:
    from modalities.audio.training import lfcc_gmm as recipe  # heavy: only when training

    return recipe.train(**kwargs)


def _train_synthesis_traces(**kwargs: Any) -> dict[str, Any]:
    from modalities.audio.training import synthesis_traces as recipe

    return recipe.train(**kwargs)


def _train_audio_cnn(**kwargs: Any) -> dict[str, Any]:
    from modalities.audio.training import cnn as recipe

    return recipe.train(**kwargs)


def _train_spectrum(**kwargs: Any) -> dict[str, Any]:
    from modalities.visual.training import spectrum as recipe

    return recipe.train(**kwargs)


def _train_blend(**kwargs: Any) -> dict[str, Any]:
    from modalities.visual.training import blend as recipe

    return recipe.train(**kwargs)


def _train_syncnet(**kwargs: Any) -> dict[str, Any]:
    from modalities.lipsync.training import syncnet as recipe

    return recipe.train(**kwargs)


# ``verity train NAME``: the recipe and the folder its weights ship in.
TRAINERS: dict[str, tuple[Callable[..., dict[str, Any]], Path]] = {
    lfcc_gmm.NAME: (_train_lfcc_gmm, lfcc_gmm.WEIGHTS_DIR),
    spectrum.NAME: (_train_spectrum, spectrum.WEIGHTS_DIR),
    synthesis_traces.NAME: (_train_synthesis_traces, synthesis_traces.WEIGHTS_DIR),
    audio_cnn.NAME: (_train_audio_cnn, audio_cnn.WEIGHTS_DIR),
    blend.NAME: (_train_blend, blend.WEIGHTS_DIR),
    syncnet.NAME: (_train_syncnet, syncnet.WEIGHTS_DIR),
}
