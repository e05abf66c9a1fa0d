"""Checking a report against the evidence store: media hashes, and re-running its detectors.

``check_media`` answers "is the evidence this report describes still the evidence we hold?":
each exhibit's stored bytes still hash to the report's SHA-256, the case's custody chain still
verifies, and the export of this very report is in that chain. ``reproduce`` answers "would the
same tools say the same today?": it re-runs each detector the report cites on the stored bytes,
built with the options the analysis recorded (a front end, a coverage, a local checkpoint; not
this installation's current settings), after checking that the installed version and weights are
the ones cited, and names every difference (version changed, weights differ, calibration
differs, score differs by X).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from core.app import Verity
from core.calibration import CalibrationStore
from core.custody import Action, append_event, verify_custody
from core.db import Case, CustodyEvent, MediaItem
from core.detector import MediaInput, options_text
from core.engine import ENGINE_VERSION, run_detectors
from core.errors import DetectorError, MediaError, StoreError, VerificationError
from core.hooks import Hook, null_hook
from core.media import probe
from core.report.signature import Check

DEFAULT_TOLERANCE = 1e-6
SCORE_FIELDS = ("raw_score", "llr", "p_fake")


def check_media(app: Verity, document: dict[str, Any], report_sha256: str) -> list[Check]:
    """Compare a verified report with the store and database this installation holds."""
    checks = []
    case_id = document["case"]["id"]
    for exhibit in document["exhibits"]:
        sha = exhibit["sha256"]
        name = f"media {exhibit['exhibit_id']}"
        try:
            app.store.verify(sha)
            checks.append(Check(name, True, f"stored bytes still hash to {sha}"))
        except StoreError as exc:
            checks.append(Check(name, False, str(exc)))
    with app.db.session() as session:
        if session.get(Case, case_id) is None:
            checks.append(Check("custody", False, f"case {case_id} is not in this database"))
            return checks
        for exhibit in document["exhibits"]:
            item = session.scalars(
                select(MediaItem).where(MediaItem.sha256 == exhibit["sha256"])
            ).first()
            if item is None:
                checks.append(
                    Check(f"record {exhibit['exhibit_id']}", False, "no media record here")
                )
        try:
            report = verify_custody(session, case_id)
            checks.append(Check("custody", True, f"case chain intact, {report.events} events"))
        except VerificationError as exc:
            checks.append(Check("custody", False, str(exc)))
        exported = [
            e
            for e in session.scalars(
                select(CustodyEvent).where(
                    CustodyEvent.chain == case_id,
                    CustodyEvent.action == str(Action.EXPORT),
                    CustodyEvent.object_sha256 == report_sha256,
                )
            )
        ]
        checks.append(
            Check(
                "export recorded",
                bool(exported),
                f"custody event #{exported[0].seq} at {exported[0].at} by {exported[0].actor}"
                if exported
                else "no export event for these report bytes in the case's chain",
            )
        )
    return checks


@dataclass(frozen=True)
class Comparison:
    exhibit: str
    analysis_id: str
    detector: str
    ok: bool
    detail: str


def _compare(reported: dict[str, Any], evidence: Any, tolerance: float) -> list[str]:
    problems = []
    if evidence.calibration_version != reported["calibration_version"]:
        problems.append(
            f"calibration differs: report {reported['calibration_version']}, "
            f"now {evidence.calibration_version}"
        )
    for field in SCORE_FIELDS:
        old, new = reported[field], getattr(evidence, field)
        if old is None or abs(float(old) - float(new)) > tolerance:
            diff = abs(float(old or 0.0) - new)
            problems.append(f"{field} differs by {diff:.3g} ({old} → {new}){_rounding(old, diff)}")
    return problems


# A difference of at most this many single-precision units in the last place is named as such
ROUNDING_ULPS = 16


def _rounding(old: float | None, diff: float) -> str:
    """Names a difference as single-precision rounding when it is one.

    Why: some detectors compute in single precision (24-bit mantissa: a user's Hugging Face
    checkpoint, and ``visual.blend`` before 1.0.1 and ``lipsync.syncnet`` before 1.5.1, whose
    results an auditor may re-run), and each CPU's vector code rounds their sums in another
    order, so a re-run on another computer moves such a score by a few units in its last place
    (up to 3.6e-7 at 1.5 for ``visual.blend`` 1.0.0, measured by bench/cpu_reproducibility.py,
    docs/benchmarks.md). Near 8 one such unit is 9.5e-7, at the default tolerance. The check
    still fails (the auditor chose the tolerance); the line says what the size of the
    difference means.
    """
    if old is None or diff == 0.0:
        return ""
    unit = float(np.spacing(np.float32(abs(float(old)))))
    units = diff / unit
    if units > ROUNDING_ULPS:
        return ""
    return (
        f": {units:.0f} single-precision unit{'s' if round(units) != 1 else ''} in the last place"
        " at this size, as small as the rounding of a network's score on another CPU"
    )


def _identity_problems(app: Verity, det: dict[str, Any]) -> list[str]:
    """Differences between the detector the report cites and the one that would re-run it here
    (built with the options the analysis recorded: a local checkpoint's own weights)."""
    try:
        spec = app.registry.spec(det["name"])
    except DetectorError:
        return ["detector is not installed here"]
    options = det.get("options") or {}
    if options:
        try:
            spec = app.registry.create(det["name"], **options).spec
        except Exception as exc:  # a checkpoint moved away, an option this version lacks
            recorded = options_text(options)
            return [f"cannot build it with the recorded options ({recorded}): {exc}"]
    problems = []
    if spec.version != det["version"]:
        problems.append(f"detector version changed: report {det['version']}, now {spec.version}")
    weights = spec.weights.sha256 if spec.weights else None
    if weights != det["weights_sha256"]:
        problems.append(f"weights sha differ: report {det['weights_sha256']}, now {weights}")
    return problems


def reproduce(
    app: Verity,
    document: dict[str, Any],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    hook: Hook = null_hook,
) -> list[Comparison]:
    """Re-run every detector result the report cites; one comparison per detector result."""
    out: list[Comparison] = []
    calibrations = CalibrationStore(app.settings.home)
    for exhibit in document["exhibits"]:
        sha = exhibit["sha256"]
        media: MediaInput | None = None
        problem = ""
        try:
            app.store.verify(sha)
            path = app.store.path_for(sha)
            media = MediaInput(
                path, sha, probe(path, app.settings.limits), exhibit["original_name"]
            )
        except (StoreError, MediaError) as exc:
            problem = str(exc)
        for analysis in exhibit["analyses"]:
            for det in analysis["detectors"]:
                where = (exhibit["exhibit_id"], analysis["analysis_id"], det["name"])
                if det["status"] != "ok":
                    out.append(Comparison(*where, True, f"was {det['status']}: not re-run"))
                    continue
                if media is None:
                    out.append(Comparison(*where, False, problem))
                    continue
                problems = _identity_problems(app, det)
                if problems:
                    out.append(Comparison(*where, False, "; ".join(problems)))
                    continue
                hook("detect", detail=f"{det['name']} on {sha[:12]}")
                run = run_detectors(
                    app.registry,
                    media,
                    names=[det["name"]],
                    fusion_settings=app.settings.fusion,
                    calibrations=calibrations,
                    options={det["name"]: det.get("options") or {}},  # as it was analysed
                )
                outcome = run.outcomes[0]
                if outcome.evidence is None:
                    out.append(Comparison(*where, False, f"now {outcome.status}: {outcome.reason}"))
                    continue
                diffs = _compare(det, outcome.evidence, tolerance)
                recorded = analysis.get("engine_version")
                if diffs and recorded and recorded != ENGINE_VERSION:
                    diffs.append(
                        f"analysed by engine {recorded}, re-run by {ENGINE_VERSION} "
                        "(CHANGELOG.md says what changed)"
                    )
                detail = "; ".join(diffs) or (
                    f"raw {outcome.evidence.raw_score:.6g}, LLR {outcome.evidence.llr:.6g} match "
                    f"within {tolerance:g}"
                )
                if outcome.evidence.options:
                    detail += f" (built with {options_text(outcome.evidence.options)}, as recorded)"
                out.append(Comparison(*where, not diffs, detail))
    _record_reads(app, document)
    return out


def _record_reads(app: Verity, document: dict[str, Any]) -> None:
    """Re-running detectors reads the evidence: record it where the case lives here."""
    case_id = document["case"]["id"]
    with app.db.session() as session:
        if session.get(Case, case_id) is None:
            return
        for exhibit in document["exhibits"]:
            if app.store.exists(exhibit["sha256"]):
                append_event(
                    session,
                    actor=app.settings.actor,
                    action=Action.READ,
                    case_id=case_id,
                    object_sha256=exhibit["sha256"],
                    details={"media_id": exhibit["media_id"], "via": "reproduce"},
                )


def comparisons_json(comparisons: list[Comparison]) -> list[dict[str, Any]]:
    return [asdict(c) for c in comparisons]
