"""Chain of custody: append-only, hash-chained events, one chain per case.

Each event hashes its own fields together with the previous event's hash, so editing, reordering or
removing an event breaks every link after it. Events are written in the same transaction as the
action they record: an ingest without its event, or an event without its ingest, cannot be
committed. ``verify_custody`` recomputes every link and also checks that every case, media
filing, analysis, ledger leaf and anchor in the database has the event that vouches for it, so
removing the newest events, which a hash chain alone cannot notice, is caught while the rows
they describe remain; and, the other way, that every case, ingest and analyze event still has
its row, holding what the event recorded, so a row edited or deleted behind the chain's back is
named by its event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from core.canonical import canonical_json, parse_untrusted_json, sha256_canonical
from core.db import (
    Analysis,
    Case,
    CaseMedia,
    CustodyEvent,
    LedgerAnchor,
    LedgerLeaf,
    MediaItem,
    new_id,
)
from core.errors import CustodyChainBrokenError, CustodyRecordMismatchError, VerificationError

GENESIS_HASH = "0" * 64
EVENT_SCHEMA = 1
GLOBAL_CHAIN = "global"


class Action(StrEnum):
    CASE_CREATE = "case.create"
    INGEST = "ingest"
    ANALYZE = "analyze"
    READ = "read"
    EXPORT = "export"
    REGISTER = "register"
    ANCHOR = "anchor"
    VIEW = "view"  # a person opened evidence (the dashboard's case file, `verity case show`)
    USER_ADD = "user.add"  # an account was created (global chain)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    event_id: str,
    chain: str,
    seq: int,
    at: str,
    actor: str,
    action: str,
    case_id: str | None,
    object_sha256: str | None,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 over the canonical JSON of every field of an event and its predecessor's hash."""
    return sha256_canonical(
        {
            "schema": EVENT_SCHEMA,
            "id": event_id,
            "chain": chain,
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "case_id": case_id,
            "object_sha256": object_sha256,
            "details": details,
            "prev_hash": prev_hash,
        }
    )


def _hash_of_row(row: CustodyEvent, details: dict[str, Any]) -> str:
    return event_hash(
        event_id=row.id,
        chain=row.chain,
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        case_id=row.case_id,
        object_sha256=row.object_sha256,
        details=details,
        prev_hash=row.prev_hash,
    )


def append_event(
    session: Session,
    *,
    actor: str,
    action: Action,
    case_id: str | None,
    object_sha256: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> CustodyEvent:
    """Add the next event of the case's chain to ``session`` (committed with the caller's work).

    Two writers racing for the same position collide on the (chain, seq) unique constraint, so one
    of the two transactions fails instead of forking the chain.
    """
    chain = case_id or GLOBAL_CHAIN
    last = session.scalars(
        select(CustodyEvent).where(CustodyEvent.chain == chain).order_by(CustodyEvent.seq.desc())
    ).first()
    seq = 0 if last is None else last.seq + 1
    prev = GENESIS_HASH if last is None else last.event_hash
    body = dict(details or {})
    row = CustodyEvent(
        id=new_id(),
        chain=chain,
        seq=seq,
        at=format_time(at or datetime.now(UTC)),
        actor=actor,
        action=str(action),
        case_id=case_id,
        object_sha256=object_sha256,
        details=canonical_json(body).decode("utf-8"),
        prev_hash=prev,
    )
    row.event_hash = _hash_of_row(row, body)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class CustodyReport:
    chains: int
    events: int
    heads: dict[str, str]


def verify_chain_rows(chain: str, rows: list[CustodyEvent]) -> str:
    """Check one chain's events, in seq order; return its head hash or raise at the first break."""
    prev = GENESIS_HASH
    for expected_seq, row in enumerate(rows):
        if row.seq != expected_seq:
            raise CustodyChainBrokenError(
                chain, row.seq, row.id, f"expected event #{expected_seq}: events are missing"
            )
        if row.chain != chain or (row.case_id or GLOBAL_CHAIN) != chain:
            raise CustodyChainBrokenError(chain, row.seq, row.id, "event moved between chains")
        if row.prev_hash != prev:
            raise CustodyChainBrokenError(
                chain, row.seq, row.id, "previous-hash link does not match the event before it"
            )
        try:  # strict: a repeated key, NaN or 1e400 has no canonical form to hash
            details = parse_untrusted_json(row.details)
        except (TypeError, ValueError) as exc:
            raise CustodyChainBrokenError(
                chain, row.seq, row.id, f"details are not canonical JSON ({exc})"
            ) from None
        if not isinstance(details, dict):
            raise CustodyChainBrokenError(chain, row.seq, row.id, "details are not an object")
        computed = _hash_of_row(row, details)
        if computed != row.event_hash:
            raise CustodyChainBrokenError(
                chain,
                row.seq,
                row.id,
                f"content was altered (stored hash {row.event_hash[:16]}…, "
                f"recomputed {computed[:16]}…)",
            )
        prev = row.event_hash
    return prev


def verify_custody(session: Session, case_id: str | None = None) -> CustodyReport:
    """Verify every chain (or one case's), and that records and their events match both ways.

    Returns a report or raises :class:`~core.errors.VerificationError` naming the first problem.
    """
    query = select(CustodyEvent).order_by(CustodyEvent.chain, CustodyEvent.seq)
    if case_id is not None:
        query = query.where(CustodyEvent.chain == case_id)
    by_chain: dict[str, list[CustodyEvent]] = {}
    for row in session.scalars(query):
        by_chain.setdefault(row.chain, []).append(row)
    heads = {chain: verify_chain_rows(chain, rows) for chain, rows in by_chain.items()}
    _check_records_match_events(session, by_chain, case_id)
    return CustodyReport(
        chains=len(by_chain), events=sum(len(r) for r in by_chain.values()), heads=heads
    )


@dataclass(frozen=True, slots=True)
class _Filing:
    """A case's media row with its item's columns (None where the item's row is gone)."""

    original_name: str
    sha256: str | None
    size_bytes: int | None
    kind: str | None


def _check_records_match_events(
    session: Session, by_chain: dict[str, list[CustodyEvent]], case_id: str | None
) -> None:
    """Each case, filing and analysis has its event, and each event still has its row, as recorded.

    Both directions matter: a hash chain notices an edited event, not an edited or deleted row,
    and a row without its event says nothing of the rows whose events remain. Nothing in
    Verity deletes or edits these rows, so any difference is tampering. Each table is read
    once, whatever the number of events.
    """
    cases = {c.id: c for c in session.scalars(_scoped(select(Case), Case.id, case_id))}
    filings: dict[str, dict[str, _Filing]] = {}
    for owner, media_id, name, sha, size, kind in session.execute(
        _scoped(
            select(
                CaseMedia.case_id,
                CaseMedia.media_id,
                CaseMedia.original_name,
                MediaItem.sha256,
                MediaItem.size_bytes,
                MediaItem.kind,
            ).outerjoin(MediaItem, MediaItem.id == CaseMedia.media_id),
            CaseMedia.case_id,
            case_id,
        )
    ):
        filings.setdefault(owner, {})[media_id] = _Filing(name, sha, size, kind)
    analyses: dict[str, dict[str, tuple[Analysis, str | None]]] = {}
    for analysis, sha in session.execute(
        _scoped(
            select(Analysis, MediaItem.sha256)
            .outerjoin(MediaItem, MediaItem.id == Analysis.media_id)
            .options(selectinload(Analysis.results)),
            Analysis.case_id,
            case_id,
        )
    ):
        analyses.setdefault(analysis.case_id, {})[analysis.id] = (analysis, sha)
    for chain in sorted(
        (set(by_chain) | set(cases) | set(filings) | set(analyses)) - {GLOBAL_CHAIN}
    ):
        events = by_chain.get(chain, [])
        _check_case_row(chain, cases.get(chain), events)
        _check_filings(chain, events, filings.get(chain, {}))
        _check_analyses(chain, events, analyses.get(chain, {}))
    _check_ledger_rows_have_events(session, by_chain, case_id)


def _scoped(query: Any, column: Any, case_id: str | None) -> Any:
    """``query`` limited to one case's rows when one case is verified."""
    return query if case_id is None else query.where(column == case_id)


def _shown(value: Any) -> str:
    """A recorded or stored value for a message: quoted, escaped, and short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _short(sha: Any) -> str:
    return f"{sha[:16]}…" if isinstance(sha, str) else _shown(sha)


def _mismatch(case_id: str, event: CustodyEvent, problem: str) -> CustodyRecordMismatchError:
    return CustodyRecordMismatchError(case_id, event.seq, event.id, event.action, problem)


def _details(event: CustodyEvent) -> dict[str, Any]:
    details = json.loads(event.details)  # verify_chain_rows has parsed it strictly already
    return details if isinstance(details, dict) else {}


def _naming(
    case_id: str, events: list[CustodyEvent], action: Action, thing: str
) -> list[tuple[CustodyEvent, str, dict[str, Any]]]:
    """The ``action`` events of a chain, each with the id of the ``thing`` (``media`` or
    ``analysis``) it names in ``{thing}_id`` and its details; an event naming none is named."""
    out = []
    for event in events:
        if event.action != action:
            continue
        recorded = _details(event)
        named = recorded.get(f"{thing}_id")
        if not isinstance(named, str):
            raise _mismatch(case_id, event, f"records no {thing} id")
        out.append((event, named, recorded))
    return out


def _check_case_row(case_id: str, case: Case | None, events: list[CustodyEvent]) -> None:
    """The case's row is what its creation event, the first of its chain, recorded."""
    created = [e for e in events if e.action == Action.CASE_CREATE]
    if case is None:
        if not events:
            raise VerificationError(
                f"case {case_id}: its row and its custody chain are gone, "
                "but media filed in it or its analyses remain"
            )
        first = created[0] if created else events[0]
        name = _details(first).get("name")
        raise _mismatch(case_id, first, f"records case {_shown(name)}, but the case's row is gone")
    if not created:
        raise VerificationError(f"case {case.id} ({case.name}) has no creation event")
    if len(created) > 1 or created[0] is not events[0]:
        raise _mismatch(case_id, created[-1], "is not the one creation event opening the chain")
    recorded = _details(created[0])
    for field, found in (("name", case.name), ("description", case.description)):
        if recorded.get(field) != found:
            raise _mismatch(
                case_id,
                created[0],
                f"records {field} {_shown(recorded.get(field))}, "
                f"but the case's row has {_shown(found)}",
            )


def _check_filings(case_id: str, events: list[CustodyEvent], filings: dict[str, _Filing]) -> None:
    """Each ingest event's media row is in the case as recorded; each media row has its event."""
    ingested: set[str] = set()
    for event, media_id, recorded in _naming(case_id, events, Action.INGEST, "media"):
        ingested.add(media_id)
        what = f"records {_shown(recorded.get('original_name'))} (media {media_id})"
        filing = filings.get(media_id)
        if filing is None:
            raise _mismatch(case_id, event, f"{what}, but the case's media row is gone")
        if filing.sha256 is None:
            raise _mismatch(case_id, event, f"{what}, but its media item's row is gone")
        if event.object_sha256 != filing.sha256:
            raise _mismatch(
                case_id,
                event,
                f"{what} with sha256 {_short(event.object_sha256)}, "
                f"but the media row has {_short(filing.sha256)}",
            )
        if recorded.get("original_name") != filing.original_name:
            raise _mismatch(
                case_id,
                event,
                f"{what}, but the case's media row names it {_shown(filing.original_name)}",
            )
        for field, found in (("size_bytes", filing.size_bytes), ("kind", filing.kind)):
            if recorded.get(field) != found:
                raise _mismatch(
                    case_id,
                    event,
                    f"{what} with {field} {_shown(recorded.get(field))}, "
                    f"but the media row has {_shown(found)}",
                )
    for media_id, filing in filings.items():
        if media_id not in ingested:
            raise VerificationError(
                f"case {case_id}: media {media_id} (sha256 {_short(filing.sha256)}) "
                "has no matching ingest event"
            )


def _check_analyses(
    case_id: str, events: list[CustodyEvent], analyses: dict[str, tuple[Analysis, str | None]]
) -> None:
    """Each analysis has its analyze event and is what it recorded; each event still has it."""
    from core.analysis_digest import analysis_digest  # local: keeps custody free of engine imports

    analyzed = _naming(case_id, events, Action.ANALYZE, "analysis")
    digests = {key: analysis_digest(analysis) for key, (analysis, _) in analyses.items()}
    first_digest: dict[str, Any] = {}
    for _, analysis_id, recorded in analyzed:
        first_digest.setdefault(analysis_id, recorded.get("digest"))
    for analysis_id in analyses:  # the row's side first: its messages are those reads show
        if analysis_id not in first_digest:
            raise VerificationError(f"case {case_id}: analysis {analysis_id} has no analyze event")
        if first_digest[analysis_id] != digests[analysis_id]:
            raise VerificationError(
                f"case {case_id}: analysis {analysis_id} differs from what its "
                "analyze event recorded (verdict, scores or detector results were altered)"
            )
    for event, analysis_id, recorded in analyzed:
        what = f"records analysis {analysis_id}"
        if analysis_id not in analyses:
            raise _mismatch(
                case_id, event, f"{what}, but the case holds no such analysis (removed or moved)"
            )
        analysis, sha = analyses[analysis_id]
        for field, want, found in (
            ("digest", recorded.get("digest"), digests[analysis_id]),
            ("verdict", recorded.get("verdict"), analysis.verdict),
            ("media sha256", event.object_sha256, sha),
        ):
            if want != found:
                raise _mismatch(
                    case_id,
                    event,
                    f"{what} with {field} {_shown(want)}, but the analysis has {_shown(found)}",
                )


def recorded_digests(session: Session, case_id: str) -> dict[str, Any]:
    """Analysis id → the digest its analyze event recorded, over one case's chain.

    Read once per case, so that checking every analysis of a large case file costs one pass
    over its events, not one per analysis.
    """
    recorded: dict[str, Any] = {}
    events = session.scalars(
        select(CustodyEvent.details)
        .where(CustodyEvent.chain == case_id, CustodyEvent.action == Action.ANALYZE.value)
        .order_by(CustodyEvent.seq)
    )
    for raw in events:
        try:
            details = parse_untrusted_json(raw)
        except ValueError:
            continue  # unreadable details are verify_custody's to name
        if isinstance(details, dict) and isinstance(details.get("analysis_id"), str):
            recorded.setdefault(details["analysis_id"], details.get("digest"))
    return recorded


def verify_analysis_recorded(
    session: Session, analysis: Analysis, recorded: Mapping[str, Any] | None = None
) -> None:
    """Raise unless ``analysis`` is still what its analyze event recorded.

    Showing or handing out an analysis is where an altered verdict would do harm, so each read
    checks this one record against its event (the whole-chain check is ``verify_custody``).
    ``recorded`` is :func:`recorded_digests` of the analysis's case, when the caller checks many.
    """
    from core.analysis_digest import analysis_digest  # local: keeps custody free of engine imports

    if recorded is None:
        recorded = recorded_digests(session, analysis.case_id)
    if analysis.id not in recorded:
        raise VerificationError(f"analysis {analysis.id} has no analyze event in its case's chain")
    if recorded[analysis.id] != analysis_digest(analysis):
        raise VerificationError(
            f"analysis {analysis.id} differs from what its analyze event recorded "
            "(verdict, scores or detector results were altered); "
            "`verity custody verify` names the chain"
        )


def _check_ledger_rows_have_events(
    session: Session, by_chain: dict[str, list[CustodyEvent]], case_id: str | None
) -> None:
    """Each ledger leaf has the register event that wrote it, each anchor its anchor event.

    Registering writes the leaf, its checkpoint and the event in one transaction, so a leaf
    without its event means the newest events were removed. (The converse, an event whose leaf
    or checkpoint is gone, is ``provenance.ledger_audit.audit``'s check; core never imports it.)
    """
    registered: dict[Any, Any] = {}
    for events in by_chain.values():
        for e in events:
            if e.action == Action.REGISTER:
                details = json.loads(e.details)
                registered[details.get("leaf_index")] = details.get("leaf_hash")
    for idx, leaf_hash, record in session.execute(
        select(LedgerLeaf.idx, LedgerLeaf.leaf_hash, LedgerLeaf.record).order_by(LedgerLeaf.idx)
    ):
        if case_id is not None:  # one case's chain: only the leaves that case registered
            try:
                owner = json.loads(record).get("case_id")
            except (ValueError, AttributeError):
                continue  # an unreadable record is the ledger audit's to name
            if owner != case_id:
                continue
        if registered.get(idx) != leaf_hash:
            raise VerificationError(
                f"ledger leaf #{idx} has no matching register event (custody events removed?)"
            )
    if case_id is not None:
        return
    anchored = {
        json.loads(e.details).get("tx_hash")
        for e in by_chain.get(GLOBAL_CHAIN, [])
        if e.action == Action.ANCHOR
    }
    for tx_hash in session.scalars(select(LedgerAnchor.tx_hash)):
        if tx_hash not in anchored:
            raise VerificationError(f"anchor {tx_hash} has no anchor event in the global chain")
