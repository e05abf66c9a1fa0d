"""The registration log: an append-only RFC 6962 Merkle log kept in the database.

A fact-checker registers media; the record (media SHA-256, kind, registrant, UTC time, case, note,
and the latest verdict with its detector versions) becomes a leaf, the log gets a new signed
checkpoint, and the case's custody chain records the registration, all in one transaction.
Registering the same media again returns its existing leaf. ``audit`` recomputes every leaf and
checkpoint (root, stored frontier, log id, signature) from the rows and names the first that does
not match. Nothing stored is built on unchecked: a registration extends the newest checkpoint's
frontier only once it gives that checkpoint's signed root, and a receipt is handed out only once
it verifies offline.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import services
from core.app import Verity
from core.canonical import canonical_json
from core.custody import Action, append_event
from core.db import (
    Analysis,
    LedgerAnchor,
    LedgerCheckpoint,
    LedgerLeaf,
    MediaItem,
)
from core.errors import (
    BadInputError,
    ProvenanceError,
    VerificationError,
    first_validation_problem,
    path_problem,
)
from core.store import is_sha256, sha256_file
from provenance import merkle
from provenance.anchor import LedgerBackend
from provenance.fingerprint import compare, distance_unit, fingerprint, is_match
from provenance.keys import KeyRing, SigningKey
from provenance.ledger_rows import leaf_record, signed_body, stored_frontier
from provenance.receipts import (
    Checkpoint,
    Receipt,
    ReceiptError,
    SignedCheckpoint,
    record_leaf,
    sign_checkpoint,
    verify_checkpoint,
    verify_receipt,
)

RECORD_SCHEMA = 1


REGISTER_ATTEMPTS = 5  # concurrent registrations race for the next leaf index


def keyring(app: Verity) -> KeyRing:
    return KeyRing(app.settings.keys_dir)


def _latest_verdict(session: Session, media_id: str) -> dict[str, Any] | None:
    analysis = session.scalars(
        select(Analysis).where(Analysis.media_id == media_id).order_by(Analysis.finished_at.desc())
    ).first()
    if analysis is None:
        return None
    return {
        "analysis_id": analysis.id,
        "verdict": analysis.verdict,
        "p_fake": analysis.p_fake,
        "fusion_rule": analysis.fusion_rule,
        "detectors": [
            {
                "name": r.detector,
                "version": r.version,
                "weights_sha256": r.weights_sha256,
                "calibration_version": r.calibration_version,
                "status": r.status,
            }
            for r in sorted(analysis.results, key=lambda r: r.position)
        ],
    }


def _leaf_hashes(session: Session, size: int | None = None) -> list[bytes]:
    query = select(LedgerLeaf.leaf_hash).order_by(LedgerLeaf.idx)
    if size is not None:
        query = query.where(LedgerLeaf.idx < size)
    return [bytes.fromhex(h) for h in session.scalars(query)]


Identity = tuple[str, SigningKey]  # the log id and the key the next checkpoint is signed with


def _frontier(session: Session, app: Verity) -> tuple[int, merkle.Frontier, Identity]:
    """Size and frontier of the log as of its newest checkpoint, checked, and who signs next.

    The next root is computed from this frontier, so a wrong one would be signed as if it were
    the log. Before anything is appended, the frontier (stored, or rebuilt from the leaves for
    checkpoints written before frontiers were kept) must give the newest checkpoint's root, and
    that root's signature must verify. Leaves past the newest checkpoint are not built on: the
    next leaf's index is taken and the insert fails (a concurrent writer, retried; or a damaged
    log, which ``audit`` names).
    """
    latest = session.scalars(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc())
    ).first()
    if latest is None:
        return 0, [], _signing_identity(app, None)
    signed = signed_body(latest)
    identity = _signing_identity(app, signed)  # first: a lost key folder is named as such
    frontier = stored_frontier(latest)
    if frontier is None:
        frontier = []
        for leaf in _leaf_hashes(session, latest.tree_size):
            frontier = merkle.frontier_push(frontier, leaf)
    try:
        public = keyring(app).public_keys().get(signed.checkpoint.key_id)
        if public is None:
            raise ReceiptError(f"public key {signed.checkpoint.key_id} is missing from keys/")
        verify_checkpoint(signed, public)
        merkle.verify_frontier(frontier, latest.tree_size, bytes.fromhex(latest.root_hash))
    except VerificationError as exc:
        raise VerificationError(
            f"the log cannot be extended: checkpoint of size {latest.tree_size}: {exc}; "
            "nothing was registered (run `verity ledger audit`)"
        ) from None
    return latest.tree_size, frontier, identity


def _signing_identity(app: Verity, previous: SignedCheckpoint | None) -> Identity:
    """The log id and key to sign with: made on the first checkpoint, never remade after it."""
    ring = keyring(app)
    if previous is None:
        return ring.log_id(), ring.active()
    return ring.log_id(previous.checkpoint.log_id), ring.active(create=False)


def _checkpoint(
    session: Session,
    size: int,
    frontier: merkle.Frontier,
    identity: Identity,
) -> SignedCheckpoint:
    log_id, key = identity
    checkpoint = Checkpoint(
        log_id=log_id,
        tree_size=size,
        root_hash=merkle.frontier_root(frontier).hex(),
        timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        key_id=key.key_id,
    )
    signed = sign_checkpoint(checkpoint, key)
    session.add(
        LedgerCheckpoint(
            tree_size=checkpoint.tree_size,
            root_hash=checkpoint.root_hash,
            body=canonical_json(signed.model_dump()).decode("utf-8"),
            frontier=json.dumps([[n, h.hex()] for n, h in frontier]),
        )
    )
    return signed


def append_records(
    session: Session, app: Verity, records: list[dict[str, Any]]
) -> tuple[list[int], SignedCheckpoint]:
    """Append leaves for ``records`` and sign one checkpoint covering them: O(log n) per leaf.

    The caller's transaction commits leaves, checkpoint and whatever else it wrote together.
    """
    if not records:
        raise BadInputError("nothing to append")
    size, frontier, identity = _frontier(session, app)
    now = datetime.now(UTC)
    indices = []
    rows = []
    for record in records:
        leaf = record_leaf(record)
        rows.append(
            {
                "idx": size,
                "media_sha256": record["media_sha256"],
                "leaf_hash": leaf.hex(),
                "record": canonical_json(record).decode("utf-8"),
                "created_at": now,
            }
        )
        frontier = merkle.frontier_push(frontier, leaf)
        indices.append(size)
        size += 1
    session.execute(insert(LedgerLeaf), rows)  # one executemany: appends are bulk
    return indices, _checkpoint(session, size, frontier, identity)


def register(
    app: Verity,
    path: Path,
    case_ref: str | None,
    note: str = "",
    *,
    original_name: str | None = None,
    synthetic: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Register the file at ``path``; returns the leaf index, record and checkpoint.

    ``synthetic`` marks media Verity made itself (the red-team lab): the record then carries
    ``synthetic: true`` and ``generator`` (what made it), so a lookup of that file, or of a
    near copy, says it was born synthetic.
    """
    if len(note) > 2000:
        raise BadInputError("a note is at most 2000 characters")
    _check_signing_identity(app)  # a lost or wrong key fails before the media is filed
    ingested = services.ingest(app, path, case_ref, original_name=original_name)
    # decoding for the fingerprint happens before the transaction, never while holding it
    print_ = fingerprint(app.store.path_for(ingested.sha256), ingested.info.kind)
    for attempt in range(1, REGISTER_ATTEMPTS + 1):
        try:
            return _append_registration(app, ingested, print_, note, synthetic)
        except IntegrityError:
            # another writer took the next leaf index first; the transaction rolled back whole
            if attempt == REGISTER_ATTEMPTS:
                break
            time.sleep(0.05 * attempt)
    _raise_if_leaves_past_checkpoint(app)
    raise ProvenanceError(
        f"another registration was written at the same time, {REGISTER_ATTEMPTS} times; retry"
    )


def _check_signing_identity(app: Verity) -> None:
    """What the next checkpoint will be signed with, checked now, without making anything.

    ``register`` files the media in its case before it appends; a key problem found only then
    left media filed, with its ingest event, and no leaf.
    """
    ring = keyring(app)
    with app.db.session() as session:
        latest = session.scalars(
            select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc())
        ).first()
        previous = None if latest is None else signed_body(latest)
    if previous is not None:
        _signing_identity(app, previous)
    elif ring.public_keys():
        ring.active(create=False)  # the first checkpoint's key exists already: it must load


def _raise_if_leaves_past_checkpoint(app: Verity) -> None:
    """After every attempt collided: a leaf no checkpoint covers is damage, not a race (leaves
    and their checkpoint are committed together), and retrying would never get past it."""
    with app.db.session() as session:
        newest = session.scalars(
            select(LedgerCheckpoint.tree_size).order_by(LedgerCheckpoint.tree_size.desc())
        ).first()
        stray = session.scalars(
            select(LedgerLeaf.idx).where(LedgerLeaf.idx >= (newest or 0)).order_by(LedgerLeaf.idx)
        ).first()
    if stray is not None:
        raise VerificationError(
            f"ledger leaf #{stray} is not covered by a checkpoint (the newest covers "
            f"{newest or 0} leaves): the log was altered; nothing was registered "
            "(run `verity ledger audit`)"
        )


def _append_registration(
    app: Verity,
    ingested: services.Ingested,
    print_: dict[str, Any] | None,
    note: str,
    synthetic: dict[str, Any] | None,
) -> dict[str, Any]:
    """One transaction: the record, its leaf, the checkpoint and the custody event, or nothing."""
    with app.db.session() as session:
        existing = session.scalars(
            select(LedgerLeaf).where(LedgerLeaf.media_sha256 == ingested.sha256)
        ).first()
        if existing is not None:
            return {
                "leaf_index": existing.idx,
                "record": leaf_record(existing),
                "new": False,
            }
        media = session.get(MediaItem, ingested.media_id)
        assert media is not None
        record = {
            "schema_version": RECORD_SCHEMA,
            "media_sha256": ingested.sha256,
            "kind": media.kind,
            "size_bytes": media.size_bytes,
            "registrant": app.settings.actor,
            "registered_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "case_id": ingested.case_id,
            "note": note,
            "verdict": _latest_verdict(session, media.id),
            "fingerprint": print_,
        }
        if synthetic is not None:
            record.update(synthetic=True, generator=synthetic)
        (index,), signed = append_records(session, app, [record])
        leaf = record_leaf(record)
        append_event(
            session,
            actor=app.settings.actor,
            action=Action.REGISTER,
            case_id=ingested.case_id,
            object_sha256=ingested.sha256,
            details={
                "leaf_index": index,
                "leaf_hash": leaf.hex(),
                "tree_size": signed.checkpoint.tree_size,
                "root_hash": signed.checkpoint.root_hash,
            },
        )
        return {
            "leaf_index": index,
            "record": record,
            "new": True,
            "checkpoint": signed.model_dump(),
        }


def _resolve_sha(ref: str) -> str:
    text = ref.strip().lower()
    if is_sha256(text):
        return text
    path = Path(ref)
    if path_problem(path) is None:
        return sha256_file(path)
    raise BadInputError(f"{ref!r} is neither a SHA-256 nor a readable file")


def receipt(app: Verity, ref: str) -> Receipt:
    """A self-contained receipt for registered media (by SHA-256 or path)."""
    sha = _resolve_sha(ref)
    with app.db.session() as session:
        leaf = session.scalars(select(LedgerLeaf).where(LedgerLeaf.media_sha256 == sha)).first()
        if leaf is None:
            raise BadInputError(f"media {sha[:16]}… is not registered; run `verity register` first")
        chosen, anchor = _receipt_checkpoint(session, leaf.idx)
        signed = signed_body(chosen)
        if leaf.idx >= signed.checkpoint.tree_size:
            raise VerificationError(
                f"ledger leaf #{leaf.idx} is not covered by a checkpoint "
                "(run `verity ledger audit`)"
            )
        leaves = _leaf_hashes(session, signed.checkpoint.tree_size)
        proof = merkle.inclusion_proof(leaf.idx, leaves)
        public = keyring(app).public_keys().get(signed.checkpoint.key_id)
        if public is None:
            raise ProvenanceError(f"public key {signed.checkpoint.key_id} is missing from keys/")
        try:
            built = Receipt(
                record=leaf_record(leaf),
                leaf_index=leaf.idx,
                inclusion_proof=[h.hex() for h in proof],
                checkpoint=signed,
                public_key=public,
                anchor=None if anchor is None else anchor_json(anchor),
            )
        except ValidationError as exc:  # e.g. an edited keys/*.pub
            raise VerificationError(
                f"the receipt for ledger leaf #{leaf.idx} cannot be built: "
                f"{first_validation_problem(exc, 'receipt')}; nothing was written "
                "(run `verity ledger audit`)"
            ) from None
    try:  # built from rows that may be damaged: hand out only what verifies offline
        verify_receipt(built.model_dump_json().encode("utf-8"))
    except ReceiptError as exc:
        raise VerificationError(
            f"the receipt for ledger leaf #{built.leaf_index} would not verify ({exc}); "
            "nothing was written (run `verity ledger audit`)"
        ) from None
    return built


def _receipt_checkpoint(
    session: Session, leaf_index: int
) -> tuple[LedgerCheckpoint, LedgerAnchor | None]:
    """The newest anchored checkpoint that covers the leaf, else the newest checkpoint."""
    anchored = session.execute(
        select(LedgerCheckpoint, LedgerAnchor)
        .join(LedgerAnchor, LedgerAnchor.root_hash == LedgerCheckpoint.root_hash)
        .where(LedgerCheckpoint.tree_size > leaf_index)
        .order_by(LedgerCheckpoint.tree_size.desc())
    ).first()
    if anchored is not None:
        return anchored[0], anchored[1]
    latest = session.scalars(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc())
    ).first()
    if latest is None:
        raise ProvenanceError("the log has no checkpoint")
    return latest, None


def anchor_json(row: LedgerAnchor) -> dict[str, Any]:
    return {
        "chain_id": row.chain_id,
        "contract": row.contract,
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
        "block_hash": row.block_hash,
        "block_timestamp": row.block_timestamp,
        "root_hash": row.root_hash,
        "tree_size": row.tree_size,
    }


def newest_anchor(app: Verity) -> dict[str, Any] | None:
    """The newest checkpoint's anchor (``anchor`` with ``new`` False), None when it has none.

    Callers ask this before connecting to a chain, so that a checkpoint already anchored
    deploys nothing and sends nothing. Raises BadInputError when the log has no checkpoint.
    """
    with app.db.session() as session:
        latest = session.scalars(
            select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc())
        ).first()
        if latest is None:
            raise BadInputError("nothing to anchor: register media first")
        done = session.get(LedgerAnchor, latest.root_hash)
        return None if done is None else {**anchor_json(done), "new": False, "adopted": False}


def anchor(
    app: Verity, backend: LedgerBackend, *, confirmations: int = 1, timeout_s: float = 60.0
) -> dict[str, Any]:
    """Anchor the newest checkpoint (one transaction for all its leaves) and archive the proof.

    Nothing is written unless the backend shows the transaction mined, confirmed and holding
    the contract's event for this root and size, so a node that is down or slow leaves the
    checkpoint unanchored and a later call tries again (adopting the earlier transaction when
    it was mined meanwhile).
    """
    done = newest_anchor(app)
    if done is not None:
        return done
    with app.db.session() as session:
        latest = session.scalars(
            select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(1)
        ).one()
        root_hash, tree_size = latest.root_hash, latest.tree_size
    record = backend.anchor(
        bytes.fromhex(root_hash), tree_size, confirmations=confirmations, timeout_s=timeout_s
    )
    if record.root_hash != root_hash or record.tree_size != tree_size:  # fail closed
        raise ProvenanceError(
            f"the chain backend returned an anchor of another checkpoint (root "
            f"{record.root_hash[:16]}…, size {record.tree_size}); nothing recorded"
        )
    with app.db.session() as session:
        row = LedgerAnchor(
            root_hash=record.root_hash,
            tree_size=record.tree_size,
            chain_id=record.chain_id,
            contract=record.contract,
            tx_hash=record.tx_hash,
            block_number=record.block_number,
            block_hash=record.block_hash,
            block_timestamp=record.block_timestamp,
            transaction=canonical_json(record.transaction).decode("utf-8"),
            receipt=canonical_json(record.receipt).decode("utf-8"),
            header=canonical_json(record.header).decode("utf-8"),
        )
        session.add(row)
        append_event(
            session,
            actor=app.settings.actor,
            action=Action.ANCHOR,
            case_id=None,
            details=anchor_json(row),
        )
        return {**anchor_json(row), "new": True, "adopted": record.adopted}


def lookup(app: Verity, path: Path, *, limit: int = 5) -> dict[str, Any]:
    """Is this file, or a near copy of it, registered? Exact match by SHA-256 first, then the
    nearest registered fingerprints with their distances and a match decision."""
    from core.media import check_readable_file, probe

    check_readable_file(path, app.settings.limits)
    sha = sha256_file(path)
    with app.db.session() as session:
        exact = session.scalars(select(LedgerLeaf).where(LedgerLeaf.media_sha256 == sha)).first()
        if exact is not None:
            record = leaf_record(exact)
            return {
                "sha256": sha,
                "kind": record.get("kind"),
                "exact": {"leaf_index": exact.idx, "record": record},
                "near": [],
                "fingerprint": None,
            }
        info = probe(path, app.settings.limits)
        query = fingerprint(path, info.kind, query=True)
        near: list[dict[str, Any]] = []
        if query is not None:
            for row in session.scalars(select(LedgerLeaf).order_by(LedgerLeaf.idx)):
                record = leaf_record(row)
                stored = record.get("fingerprint")
                compared = compare(query, stored) if stored else None
                if compared is not None:
                    value, common_s = compared
                    near.append(
                        {
                            "leaf_index": row.idx,
                            "media_sha256": row.media_sha256,
                            "distance_bits": value,
                            "distance_unit": distance_unit(query["type"]),
                            "overlap_s": common_s,
                            "match": is_match(query, value),
                            "kind": record.get("kind"),
                            "registered_at": record.get("registered_at"),
                            "registrant": record.get("registrant"),
                            "case_id": record.get("case_id"),
                            "note": record.get("note"),
                            "synthetic": bool(record.get("synthetic")),
                            "generator": record.get("generator"),
                        }
                    )
        near.sort(key=lambda n: n["distance_bits"])
        return {
            "sha256": sha,
            "kind": info.kind.value,
            "exact": None,
            "near": near[:limit],
            "fingerprint": None if query is None else query["type"],
        }
