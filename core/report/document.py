"""The report document: one canonical JSON object that says what was examined, how and with what.

Everything a court needs to weigh the findings is gathered here from the database, the content
store and the model cards: case and exhibits, how each exhibit was acquired, its SHA-256 at intake
and at every hand-off recorded in the custody chain, the chain itself and whether it verifies,
each detector's identity (version, weights, calibration, card with its measured error rates), the
calibrated scores with intervals and the verdict, the C2PA results verbatim, the ledger receipt,
and the limitations that apply to this evidence. The HTML and PDF renderings are views of this
document; its canonical bytes are what is signed.

The ledger lives in ``provenance`` (which core never imports), so its summary comes in through
``ledger_lookup``, supplied by the composition root.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core import __version__
from core.app import Verity
from core.cards import load_card
from core.custody import Action, format_time, verify_custody
from core.db import Analysis, Case, CaseMedia, CustodyEvent, MediaItem
from core.errors import (
    BadInputError,
    DetectorError,
    NotFoundError,
    StoreError,
    VerificationError,
    display_name,
)
from core.hooks import Hook, null_hook
from core.report.limitations import limitations_for
from core.results import analysis_json

REPORT_SCHEMA = 1
REPORT_TYPE = "verity.forensic-report"

LedgerLookup = Callable[[str], dict[str, Any] | None]

ACQUISITION_METHOD = (
    "copied into Verity's content-addressed store (SHA-256 computed while copying, stored copy "
    "read-only); every analysis ran on that stored working copy, never on the submitted file"
)


def _no_ledger(_sha256: str) -> dict[str, Any] | None:
    return None


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None: canonical JSON has no form for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


# ------------------------------------------------------------------------------- resolving a ref


def resolve_subject(session: Session, ref: str) -> tuple[Case, list[str] | None]:
    """A case (by id or name) or an analysis (full id or unique prefix of 8+ hex digits).

    Returns the case and, for an analysis, the list with its id (None: every analysis of the case).
    """
    from core.services import _find_case, _resolve_analysis_id  # one resolver for every command

    text = ref.strip()
    if not text:
        raise BadInputError("give a case id or name, or an analysis id")
    case = _find_case(session, text)
    analysis = session.get(Analysis, _resolve_analysis_id(session, text))
    if case is not None and analysis is not None:
        raise BadInputError(f"{display_name(text)!r} names both a case and an analysis")
    if analysis is not None:
        return analysis.case, [analysis.id]
    if case is not None:
        return case, None
    raise NotFoundError(f"no case or analysis with id or name {display_name(text)!r}")


# ------------------------------------------------------------------------------------- builders


def _event_json(row: CustodyEvent) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "id": row.id,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "object_sha256": row.object_sha256,
        "details": json.loads(row.details),
        "prev_hash": row.prev_hash,
        "event_hash": row.event_hash,
    }


def _custody(session: Session, case: Case) -> dict[str, Any]:
    rows = session.scalars(
        select(CustodyEvent).where(CustodyEvent.chain == case.id).order_by(CustodyEvent.seq)
    ).all()
    verification: dict[str, Any]
    try:
        report = verify_custody(session, case.id)
        verification = {"intact": True, "events": report.events, "problem": None}
    except VerificationError as exc:
        verification = {"intact": False, "events": len(rows), "problem": str(exc)}
    return {
        "chain": case.id,
        "head_hash": rows[-1].event_hash if rows else None,
        "verification": verification,
        "events": [_event_json(r) for r in rows],
    }


def _store_check(app: Verity, sha256: str) -> dict[str, Any]:
    try:
        app.store.verify(sha256)
    except StoreError as exc:
        state = "missing" if "missing" in str(exc) else "altered"
        return {"state": state, "detail": str(exc)}
    return {"state": "intact", "detail": "stored bytes still hash to the intake SHA-256"}


def _exhibit(
    app: Verity,
    index: int,
    link: CaseMedia,
    events: list[dict[str, Any]],
    analyses: list[dict[str, Any]],
    ledger: dict[str, Any] | None,
) -> dict[str, Any]:
    media: MediaItem = link.media
    mine = [
        e
        for e in events
        if e["object_sha256"] == media.sha256 or e["details"].get("media_id") == media.id
    ]
    intake = next((e for e in mine if e["action"] == Action.INGEST), None)
    history = [
        {
            "seq": e["seq"],
            "event_id": e["id"],
            "at": e["at"],
            "action": e["action"],
            "actor": e["actor"],
            "sha256": e["object_sha256"],
            "matches_intake": e["object_sha256"] == media.sha256,
        }
        for e in mine
        if e["object_sha256"] is not None
    ]
    exhibit = {
        "exhibit_id": f"E{index}",
        "media_id": media.id,
        "sha256": media.sha256,
        "kind": media.kind,
        "size_bytes": media.size_bytes,
        "duration_s": media.duration_s,
        "original_name": link.original_name,
        "probe": media.probe,
        "acquisition": {
            "source": link.original_name,
            "acquired_at": intake["at"] if intake else None,
            "method": ACQUISITION_METHOD,
            "actor": intake["actor"] if intake else link.added_by,
            "sha256_at_intake": intake["object_sha256"] if intake else None,
            "custody_event": intake["id"] if intake else None,
        },
        "hash_history": history,
        "store_check": _store_check(app, media.sha256),
        "c2pa": media.c2pa,
        "ledger": ledger,
        "analyses": analyses,
    }
    exhibit["limitations"] = limitations_for(exhibit)
    return exhibit


def _analysis(analysis: Analysis, media: MediaItem, original_name: str) -> dict[str, Any]:
    """The ``verity analyze --json`` contract plus each detector's series and artefacts."""
    out = analysis_json(analysis, media, original_name)
    by_position = sorted(analysis.results, key=lambda r: r.position)
    for entry, row in zip(out["detectors"], by_position, strict=True):
        evidence = row.evidence or {}
        entry["series"] = evidence.get("series", [])
        entry["artifacts"] = evidence.get("artifacts", [])
    return out


def _detector_identities(app: Verity, exhibits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each detector version used, with its weights, calibration and error-rate card."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for exhibit in exhibits:
        for analysis in exhibit["analyses"]:
            for det in analysis["detectors"]:
                key = (det["name"], det["version"], det["calibration_version"] or "")
                if key in seen:
                    continue
                card, note = _card_for(app, det)
                seen[key] = {
                    "name": det["name"],
                    "modality": det["modality"],
                    "version": det["version"],
                    "weights_sha256": det["weights_sha256"],
                    "calibration_version": det["calibration_version"],
                    "calibrated": det["calibrated"],
                    "card_sha256": det["card_sha256"],
                    "card": card,
                    "card_note": note,
                }
    return [seen[k] for k in sorted(seen)]


def _card_for(app: Verity, det: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    cited = det.get("card_sha256")
    try:
        spec = app.registry.spec(det["name"])
    except DetectorError:
        return None, "detector is not installed here; its card cannot be shown"
    if spec.version != det["version"]:
        return None, f"this installation has version {spec.version}; the cited card is not here"
    try:
        loaded = load_card(spec)
    except DetectorError as exc:
        return None, str(exc)
    if loaded is None:
        return None, "this detector version ships no model card"
    card, sha = loaded
    if cited is None:
        return finite(card), f"the analysis cited no card; shown: the shipped card (sha256 {sha})"
    if sha != cited:
        return None, f"the card here (sha256 {sha}) differs from the one the analysis cited"
    return finite(card), None


def build_report(
    app: Verity,
    ref: str,
    *,
    examiner: str | None = None,
    ledger_lookup: LedgerLookup = _no_ledger,
    now: datetime | None = None,
    hook: Hook = null_hook,
) -> dict[str, Any]:
    """The report document for a case (every analysis) or one analysis; JSON-ready, canonical.

    ``signing_key_id`` is None here; ``export_report`` names the report key that signs it, so
    that the report itself says which key signed it and a signature by any other key over the
    same bytes is told apart.

    >>> doc = build_report(app, "demo", examiner="A. Analyst")  # doctest: +SKIP
    >>> doc["exhibits"][0]["sha256"]  # doctest: +SKIP
    """
    examiner = (examiner if examiner is not None else app.settings.actor).strip()
    if not examiner or len(examiner) > 200 or not examiner.isprintable():
        raise BadInputError("the examiner's name must be 1 to 200 printable characters")
    hook("load", detail=display_name(ref)[:40])
    with app.db.session() as session:
        case, only = resolve_subject(session, ref)
        custody = _custody(session, case)
        links = session.scalars(
            select(CaseMedia)
            .where(CaseMedia.case_id == case.id)
            .options(selectinload(CaseMedia.media))
            .order_by(CaseMedia.id)
        ).all()
        query = (
            select(Analysis)
            .where(Analysis.case_id == case.id)
            .options(selectinload(Analysis.results))
            .order_by(Analysis.finished_at, Analysis.id)
        )
        if only is not None:
            query = query.where(Analysis.id.in_(only))
        analyses = session.scalars(query).all()
        if only is not None:
            links = [lk for lk in links if lk.media_id == analyses[0].media_id]
        exhibits = []
        for index, link in enumerate(links, start=1):
            hook("hash", completed=index - 1, total=len(links), detail=link.media.sha256[:12])
            mine = [
                _analysis(a, link.media, link.original_name)
                for a in analyses
                if a.media_id == link.media_id
            ]
            exhibits.append(
                _exhibit(
                    app,
                    index,
                    link,
                    custody["events"],
                    mine,
                    ledger_lookup(link.media.sha256),
                )
            )
        case_json = {
            "id": case.id,
            "name": case.name,
            "description": case.description,
            "created_at": format_time(case.created_at),
            "created_by": case.created_by,
        }
    document = {
        "schema_version": REPORT_SCHEMA,
        "report_type": REPORT_TYPE,
        "generated_at": format_time(now or datetime.now(UTC)),
        "verity_version": __version__,
        "examiner": examiner,
        "signing_key_id": None,
        "subject": {"ref": display_name(ref.strip()), "analysis_ids": only},
        "case": case_json,
        "exhibits": exhibits,
        "detectors": _detector_identities(app, exhibits),
        "custody": custody,
    }
    return finite(document)  # type: ignore[no-any-return]
