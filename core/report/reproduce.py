"""Checking a report against the evidence store: media hashes, and re-running its detectors.

``check_media`` answers "is the evidence this report describes still the evidence we hold?":
each exhibit's stored bytes still hash to the report's SHA-256, the case's custody chain still
verifies, and the export of this very report is in that chain. ``reproduce`` answers "would the
same tools say the same today?": it re-runs each detector the report cites on the stored bytes,
built with the options the analysis recorded (a front end, a coverage, a local checkpoint; not
this installation's current settings), after checking that the installed version and weights are
the ones cited, and names every difference (version changed, weights differ, calibration
differs, score differs by X). It then fuses each analysis' re-run evidence again, by the rule and
thresholds the analysis recorded, and compares the verdict, p_fake and LLR with the report's:
matching detector scores prove nothing about a verdict that was altered after the detectors ran.
``report_problem`` says what a document lacks of the structure both read, before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import select

from core.app import Verity
from core.calibration import CalibrationStore
from core.config import FusionSettings
from core.custody import Action, append_event, verify_custody
from core.db import Case, CustodyEvent, MediaItem
from core.detector import DetectorSpec, Evidence, MediaInput, options_text
from core.engine import ENGINE_VERSION, run_detectors
from core.errors import DetectorError, MediaError, StoreError, VerificationError
from core.fusion import LEARNED_RULE, RULE, Verdict, fuse
from core.hooks import Hook, null_hook
from core.media import probe
from core.report.document import REPORT_TYPE
from core.report.signature import Check
from core.store import is_sha256

DEFAULT_TOLERANCE = 1e-6
SCORE_FIELDS = ("raw_score", "llr", "p_fake")
FUSED_FIELDS = ("p_fake", "llr")
FUSION = "fusion"  # the comparison of an analysis' fused result (detector names have a dot)
MEDIA = "media"  # an exhibit whose stored media cannot be read: one comparison, nothing re-run


class _Malformed(Exception):
    """Raised by the structure checks below; ``report_problem`` turns it into its message."""


_Check = Callable[[Any], bool]


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _string_or_null(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _options(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )


def _field(obj: dict[str, Any], key: str, where: str, expected: str, ok: _Check) -> Any:
    name = f"{where}.{key}" if where else key
    if key not in obj:
        raise _Malformed(f"no {name}")
    if not ok(obj[key]):
        raise _Malformed(f"{name} is not {expected}")
    return obj[key]


def _objects(obj: dict[str, Any], key: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    """The list ``obj[key]`` of objects, each with its place for messages."""
    items = _field(obj, key, where, "a list", lambda v: isinstance(v, list))
    name = f"{where}.{key}" if where else key
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Malformed(f"{name}[{index}] is not an object")
    return [(f"{name}[{index}]", item) for index, item in enumerate(items)]


def _check_detector(det: dict[str, Any], where: str) -> None:
    for key in ("name", "status", "version"):
        _field(det, key, where, "a string", _string)
    for key in ("weights_sha256", "calibration_version"):
        _field(det, key, where, "a string or null", _string_or_null)
    for key in SCORE_FIELDS:
        _field(det, key, where, "a number or null", _number_or_null)
    if "options" in det:
        _field(det, "options", where, "an object of strings", _options)


def _check_analysis(analysis: dict[str, Any], where: str) -> None:
    _field(analysis, "analysis_id", where, "a string", _string)
    verdicts = {v.value for v in Verdict}
    expected = f"one of {', '.join(sorted(verdicts))}"
    _field(analysis, "verdict", where, expected, lambda v: isinstance(v, str) and v in verdicts)
    for key in FUSED_FIELDS:
        _field(analysis, key, where, "a number or null", _number_or_null)
    if "engine_version" in analysis:
        _field(analysis, "engine_version", where, "a string or null", _string_or_null)
    fusion = _field(analysis, "fusion", where, "an object", lambda v: isinstance(v, dict))
    _field(fusion, "rule", f"{where}.fusion", "a string", _string)
    thresholds = fusion.get("thresholds") or {}
    if not isinstance(thresholds, dict):
        raise _Malformed(f"{where}.fusion.thresholds is not an object")
    if thresholds:
        try:
            FusionSettings.model_validate(thresholds)
        except ValidationError as exc:
            raise _Malformed(
                f"{where}.fusion.thresholds are not valid ({exc.error_count()} error(s))"
            ) from None
    for det_where, det in _objects(analysis, "detectors", where):
        _check_detector(det, det_where)


def report_problem(document: Any) -> str | None:
    """What ``document`` lacks of the structure ``check_media`` and ``reproduce`` read, or None.

    Why up front: ``reproduce`` may be given a report without its signature, from anywhere; a
    field missing or of the wrong type deep inside would otherwise surface as a KeyError or
    TypeError (an "internal error") halfway through, after detectors had run. Checked first,
    it is bad input named in one line, and nothing has run or been recorded.
    """
    try:
        if not isinstance(document, dict):
            raise _Malformed("not a JSON object")
        if document.get("report_type") != REPORT_TYPE:
            raise _Malformed(f"report_type is not {REPORT_TYPE!r}")
        case = _field(document, "case", "", "an object", lambda v: isinstance(v, dict))
        _field(case, "id", "case", "a string", _string)
        for where, exhibit in _objects(document, "exhibits", ""):
            for key in ("exhibit_id", "original_name", "media_id"):
                _field(exhibit, key, where, "a string", _string)
            _field(
                exhibit,
                "sha256",
                where,
                "a SHA-256 hex digest",
                lambda v: _string(v) and is_sha256(v),
            )
            for analysis_where, analysis in _objects(exhibit, "analyses", where):
                _check_analysis(analysis, analysis_where)
    except _Malformed as exc:
        return str(exc)
    return None


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
    """Re-run every detector result the report cites; one comparison per detector result, and
    one per analysis (detector ``fusion``) for its fused result when every detector it fused
    could be re-run. ``document`` must have passed ``report_problem``."""
    out: list[Comparison] = []
    calibrations = CalibrationStore(app.settings.home)
    for exhibit in document["exhibits"]:
        sha = exhibit["sha256"]
        try:
            app.store.verify(sha)
            path = app.store.path_for(sha)
            media = MediaInput(
                path, sha, probe(path, app.settings.limits), exhibit["original_name"]
            )
        except (StoreError, MediaError) as exc:
            out.append(Comparison(exhibit["exhibit_id"], "", MEDIA, False, _unread(app, sha, exc)))
            continue  # one line for the exhibit, not one per detector result it cites
        for analysis in exhibit["analyses"]:
            rerun: list[tuple[DetectorSpec, Evidence]] | None = []  # None: cannot fuse again
            for det in analysis["detectors"]:
                where = (exhibit["exhibit_id"], analysis["analysis_id"], det["name"])
                if det["status"] != "ok":
                    out.append(Comparison(*where, True, f"was {det['status']}: not re-run"))
                    continue
                problems = _identity_problems(app, det)
                if problems:
                    out.append(Comparison(*where, False, "; ".join(problems)))
                    rerun = None
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
                    rerun = None
                    continue
                if rerun is not None:
                    rerun.append((outcome.spec, outcome.evidence))
                diffs = _compare(det, outcome.evidence, tolerance)
                _note_engine(diffs, analysis)
                detail = "; ".join(diffs) or (
                    f"raw {outcome.evidence.raw_score:.6g}, LLR {outcome.evidence.llr:.6g} match "
                    f"within {tolerance:g}"
                )
                if outcome.evidence.options:
                    detail += f" (built with {options_text(outcome.evidence.options)}, as recorded)"
                out.append(Comparison(*where, not diffs, detail))
            if rerun is not None:
                hook("fuse", detail=analysis["analysis_id"][:12])
                ok, detail = _compare_fusion(app, calibrations, analysis, rerun, tolerance)
                out.append(
                    Comparison(exhibit["exhibit_id"], analysis["analysis_id"], FUSION, ok, detail)
                )
    _record_reads(app, document)
    return out


def _unread(app: Verity, sha: str, exc: Exception) -> str:
    """Why an exhibit's media cannot be re-run. An object this installation never held (a
    report from another installation, a second examiner's machine) is not damage: the line
    says how to bring the original here. One that the database lists but the store lacks, or
    whose bytes no longer hash to its name, is damage, named as the store names it."""
    if app.store.exists(sha):
        return str(exc)
    with app.db.session() as session:
        known = session.scalar(select(MediaItem.id).where(MediaItem.sha256 == sha))
    if known is not None:
        return str(exc)
    return (
        f"media {sha[:16]}… is not in this installation ({app.settings.home}): nothing re-run; "
        "ingest the original file here (`verity ingest FILE --case CASE`; the SHA-256 must "
        "match), or reproduce where it was analysed"
    )


def _note_engine(diffs: list[str], analysis: dict[str, Any]) -> None:
    """Put a difference beside the engine change that may explain it."""
    recorded = analysis.get("engine_version")
    if diffs and recorded and recorded != ENGINE_VERSION:
        diffs.append(
            f"analysed by engine {recorded}, re-run by {ENGINE_VERSION} "
            "(CHANGELOG.md says what changed)"
        )


def _compare_fusion(
    app: Verity,
    calibrations: CalibrationStore,
    analysis: dict[str, Any],
    rerun: list[tuple[DetectorSpec, Evidence]],
    tolerance: float,
) -> tuple[bool, str]:
    """Fuse the re-run evidence as the analysis did and compare with the report's result.

    The fusion is exactly the engine's (``core.fusion.fuse``, detectors in the analysis' order)
    with what the report records: the rule (the default rule, or the learned model of that
    version, which must be installed here: another model's weights would give another
    result) and the thresholds and uncalibrated weight in force then (this installation's only
    when an old analysis recorded none, and the line says so). A verdict that differs, or a
    p_fake or LLR further than ``tolerance`` from the report's, is a difference.
    """
    fusion = analysis["fusion"]
    rule = fusion["rule"]
    model = None
    if rule != RULE:
        model = calibrations.fusion_model()
        here = None if model is None else f"{LEARNED_RULE}:{model.version}"
        if not rule.startswith(f"{LEARNED_RULE}:") or here != rule:
            now = here or RULE
            return False, f"fusion rule {rule} cannot be applied here (this installation: {now})"
    thresholds = fusion.get("thresholds") or {}
    settings = FusionSettings.model_validate(thresholds) if thresholds else app.settings.fusion
    fused = fuse(rerun, settings, model)
    diffs = []
    if fused.verdict.value != analysis["verdict"]:
        diffs.append(f"verdict differs: report {analysis['verdict']}, now {fused.verdict.value}")
    for field in FUSED_FIELDS:
        old, new = analysis[field], getattr(fused, field)
        if old is None and new is None:
            continue
        if old is None or new is None:
            diffs.append(f"fused {field} differs ({old} → {new})")
        elif abs(float(old) - new) > tolerance:
            diffs.append(f"fused {field} differs by {abs(float(old) - new):.3g} ({old} → {new})")
    _note_engine(diffs, analysis)
    unrecorded = "" if thresholds else " (thresholds not recorded: this installation's used)"
    if diffs:
        return False, "; ".join(diffs) + unrecorded
    p_fake = "none" if fused.p_fake is None else f"{fused.p_fake:.6g}"
    return True, (
        f"verdict {fused.verdict.value} and p_fake {p_fake} by {rule} match within {tolerance:g}"
        + unrecorded
    )


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
