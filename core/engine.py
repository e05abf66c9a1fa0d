"""The analysis engine: run the detectors that apply, fuse their evidence, and build the records.

Detectors run outside any database transaction (they may take minutes); their outcomes are then
written, with the custody event that vouches for them, in one transaction by core.services. A
detector that fails is recorded as ``error`` with its reason and left out of fusion; it never hides
the other detectors' results.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from core import __version__
from core.artifacts import Blob
from core.calibration import CalibrationStore
from core.cards import load_card
from core.chunks import ChunkPlan, SpanDetector, analyze_in_chunks, chunkable
from core.config import FusionSettings
from core.db import Analysis, DetectorResult
from core.detector import Detector, DetectorRegistry, DetectorSpec, Evidence, MediaInput
from core.errors import VerityError
from core.fusion import FusionResult, fuse
from core.hooks import Hook, null_hook

ENGINE_VERSION = __version__

Status = Literal["ok", "skipped", "error"]


@dataclass(frozen=True)
class DetectorOutcome:
    spec: DetectorSpec
    status: Status
    evidence: Evidence | None
    reason: str | None
    elapsed_s: float


@dataclass(frozen=True)
class EngineRun:
    started_at: datetime
    finished_at: datetime
    outcomes: tuple[DetectorOutcome, ...]
    fusion: FusionResult
    artifacts: dict[str, Blob]  # figures cited by the evidence, by SHA-256, not yet stored


def plan_detectors(
    registry: DetectorRegistry,
    media: MediaInput,
    names: list[str] | None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[tuple[DetectorSpec, bool]]:
    """The detectors to report on and whether each applies to this media kind.

    Without ``names`` every registered detector for the media kind runs, except those that need
    an option nobody gave (a local checkpoint folder). Named detectors that do not take this kind
    are kept and reported as skipped, so a user sees why they produced nothing.
    """
    if names is None:
        given = options or {}
        return [
            (spec, True)
            for spec in registry.specs(kind=media.kind)
            if spec.requires is None or spec.requires in given.get(spec.name, {})
        ]
    plan = []
    for name in dict.fromkeys(names):
        spec = registry.spec(name)
        plan.append((spec, media.kind in spec.media_kinds))
    return plan


def _within(hook: Hook, name: str, position: int, total: int, fraction: float, detail: str) -> None:
    """A detector's progress through its own step (MediaInput.progress) as the analysis' hook."""
    hook(f"detect:{name}", completed=position + fraction, total=total, detail=detail)


def run_detectors(
    registry: DetectorRegistry,
    media: MediaInput,
    *,
    names: list[str] | None,
    fusion_settings: FusionSettings,
    calibrations: CalibrationStore | None = None,
    hook: Hook = null_hook,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    instances: Mapping[str, Detector] | None = None,
    chunking: ChunkPlan | None = None,
) -> EngineRun:
    """Run the planned detectors on ``media``; apply each one's calibration when one exists.

    ``options`` are constructor options per detector name (a checkpoint folder for ``*.hf``).
    A calibration fitted for other weights than the evidence cites is not applied.
    ``instances`` are detectors built beforehand (a worker loads its models once per process),
    used for detectors given no options; others are built from the registry here. With
    ``chunking``, detectors that can split a long video (core.chunks) analyse it in time chunks
    in parallel; the evidence is the same.
    """
    started = datetime.now(UTC)
    options = options or {}
    plan = plan_detectors(registry, media, names, options)
    outcomes: list[DetectorOutcome] = []
    artifacts: dict[str, Blob] = {}
    total = len(plan) + 1
    for position, (spec, applies) in enumerate(plan):
        hook(f"detect:{spec.name}", completed=position, total=total)  # detail: its own parts
        if not applies:
            kinds = ", ".join(sorted(k.value for k in spec.media_kinds))
            outcomes.append(
                DetectorOutcome(spec, "skipped", None, f"takes {kinds}, not {media.kind}", 0.0)
            )
            continue
        t0 = time.perf_counter()
        try:
            given = options.get(spec.name, {})
            prebuilt = None if given else (instances or {}).get(spec.name)
            detector = prebuilt or registry.create(spec.name, **given)

            with media.listening(functools.partial(_within, hook, spec.name, position, total)):
                if chunking is not None and chunkable(detector, media, chunking):
                    assert isinstance(detector, SpanDetector)
                    evidence = analyze_in_chunks(detector, media, chunking)
                else:
                    evidence = detector.analyze(media)
            if evidence.detector != spec.name or evidence.version != spec.version:
                raise VerityError(
                    f"returned evidence stamped {evidence.detector} {evidence.version}"
                )
            calibration = None if calibrations is None else calibrations.get(spec, media.kind.value)
            if (
                calibration is not None
                and calibration.weights_sha256 != evidence.weights_sha256
                and (calibration.weights_sha256 is not None or spec.requires is not None)
            ):
                calibration = None  # fitted for other weights (a different local checkpoint)
            if calibration is not None and not evidence.out_of_domain:
                evidence = calibration.apply(evidence)
            card = load_card(spec)
            if card is not None:
                evidence = evidence.model_copy(update={"card_sha256": card[1]})
            if given:
                stamped = {key: str(value) for key, value in given.items()}
                evidence = evidence.model_copy(update={"options": stamped})
            cited = media.artifacts.cited(evidence.artifacts)
            artifacts.update(cited)
            outcomes.append(DetectorOutcome(spec, "ok", evidence, None, time.perf_counter() - t0))
        except Exception as exc:  # a failing detector is recorded, never fatal to the analysis
            reason = f"{type(exc).__name__}: {exc}"[:2000]
            outcomes.append(DetectorOutcome(spec, "error", None, reason, time.perf_counter() - t0))
    hook("fuse", completed=len(plan), total=total)
    model = calibrations.fusion_model() if calibrations is not None else None
    fusion = fuse(
        [(o.spec, o.evidence) for o in outcomes if o.evidence is not None], fusion_settings, model
    )
    hook("done", completed=total, total=total)
    return EngineRun(started, datetime.now(UTC), tuple(outcomes), fusion, artifacts)


def build_analysis(
    run: EngineRun,
    *,
    case_id: str,
    media_id: str,
    actor: str,
    fusion_settings: FusionSettings,
) -> Analysis:
    """ORM rows for one engine run (not yet added to a session)."""
    analysis = Analysis(
        case_id=case_id,
        media_id=media_id,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status="completed",
        verdict=run.fusion.verdict.value,
        p_fake=run.fusion.p_fake,
        llr=run.fusion.llr,
        fusion_rule=run.fusion.rule,
        fusion_details={
            "reasons": list(run.fusion.reasons),
            "p_fake_interval": list(run.fusion.p_fake_interval)
            if run.fusion.p_fake_interval
            else None,
            "thresholds": fusion_settings.model_dump(),
            "contributions": [c.model_dump() for c in run.fusion.contributions],
        },
        engine_version=ENGINE_VERSION,
        actor=actor,
    )
    for position, outcome in enumerate(run.outcomes):
        ev = outcome.evidence
        analysis.results.append(
            DetectorResult(
                position=position,
                detector=outcome.spec.name,
                modality=outcome.spec.modality.value,
                version=outcome.spec.version,
                weights_sha256=ev.weights_sha256
                if ev
                else (outcome.spec.weights.sha256 if outcome.spec.weights else None),
                calibration_version=ev.calibration_version
                if ev
                else outcome.spec.calibration_version,
                calibrated=ev.calibrated if ev else outcome.spec.calibrated,
                status=outcome.status,
                reason=outcome.reason,
                raw_score=ev.raw_score if ev else None,
                llr=ev.llr if ev else None,
                p_fake=ev.p_fake if ev else None,
                fusion_weight=next(
                    (c.weight for c in run.fusion.contributions if c.detector == outcome.spec.name),
                    0.0,
                ),
                elapsed_s=round(outcome.elapsed_s, 6),
                evidence=ev.model_dump(mode="json") if ev else None,
            )
        )
    return analysis
