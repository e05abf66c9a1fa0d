"""The ledger's audit: every leaf, checkpoint and anchor recomputed from the rows, and checked
against what the custody chains remember was written.

Read-only; it raises naming the first mismatch (exit 3 in ``verity ledger audit``), so an auditor
learns where the log was altered, not only that it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.app import Verity
from core.canonical import parse_untrusted_json
from core.custody import Action
from core.db import CustodyEvent, LedgerAnchor, LedgerCheckpoint, LedgerLeaf
from core.errors import VerificationError
from provenance import merkle
from provenance.ledger import anchor_json, keyring
from provenance.ledger_rows import leaf_record, signed_body, stored_frontier
from provenance.receipts import record_leaf, verify_checkpoint


def audit(app: Verity) -> dict[str, Any]:
    """Recompute leaves and checkpoints from the rows; raise naming the first mismatch."""
    keys = keyring(app).public_keys()
    with app.db.session() as session:
        rows = session.scalars(select(LedgerLeaf).order_by(LedgerLeaf.idx)).all()
        leaves: list[bytes] = []
        for expected, row in enumerate(rows):
            if row.idx != expected:
                raise VerificationError(f"ledger leaf #{expected} is missing (next is #{row.idx})")
            record = leaf_record(row)
            computed = record_leaf(record).hex()
            if computed != row.leaf_hash or record.get("media_sha256") != row.media_sha256:
                raise VerificationError(f"ledger leaf #{row.idx}: record was altered")
            leaves.append(bytes.fromhex(row.leaf_hash))
        checkpoints = session.scalars(
            select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size)
        ).all()
        frontier: merkle.Frontier = []  # of the leaves so far: one pass for every checkpoint
        log_id: str | None = None
        for cp in checkpoints:
            signed = signed_body(cp)
            if cp.tree_size > len(leaves):
                raise VerificationError(
                    f"checkpoint of size {cp.tree_size}: the log holds only {len(leaves)} leaves"
                )
            for leaf in leaves[sum(n for n, _ in frontier) : cp.tree_size]:
                frontier = merkle.frontier_push(frontier, leaf)
            if merkle.frontier_root(frontier).hex() != cp.root_hash:
                raise VerificationError(
                    f"checkpoint of size {cp.tree_size}: leaves no longer hash to its root"
                )
            stored = stored_frontier(cp)  # what the next registration extends
            if stored is not None and stored != frontier:
                raise VerificationError(
                    f"checkpoint of size {cp.tree_size}: stored frontier differs from the leaves"
                )
            log_id = log_id or signed.checkpoint.log_id
            if signed.checkpoint.log_id != log_id:
                raise VerificationError(
                    f"checkpoint of size {cp.tree_size}: log id {signed.checkpoint.log_id!r} "
                    f"differs from {log_id!r} of the checkpoints before it"
                )
            public = keys.get(signed.checkpoint.key_id)
            if public is None:
                raise VerificationError(f"checkpoint of size {cp.tree_size}: unknown signing key")
            verify_checkpoint(signed, public)
        roots = {cp.root_hash: cp.tree_size for cp in checkpoints}
        for anchored in session.scalars(select(LedgerAnchor).order_by(LedgerAnchor.tree_size)):
            if roots.get(anchored.root_hash) != anchored.tree_size:
                raise VerificationError(
                    f"anchor {anchored.tx_hash}: no checkpoint of size {anchored.tree_size} "
                    "has the anchored root"
                )
        if rows and (not checkpoints or checkpoints[-1].tree_size != len(rows)):
            raise VerificationError("the newest leaves are not covered by a checkpoint")
        _check_events_have_records(session, rows, checkpoints)
    return {
        "leaves": len(leaves),
        "checkpoints": len(checkpoints),
        "root": merkle.root(leaves).hex() if leaves else None,
    }


def _check_events_have_records(
    session: Session, leaves: Sequence[LedgerLeaf], checkpoints: Sequence[LedgerCheckpoint]
) -> None:
    """Every register and anchor event in the custody chains still finds the rows it recorded.

    The hash links catch an edited or missing row in the middle of the log; they cannot see the
    newest leaves and their checkpoint deleted together, nor a checkpoint taken out between
    others, since what remains is a consistent smaller log. The custody chains remember what
    was written (each registration's leaf, tree size and root; each anchor's transaction), so
    the log is checked against them. The converse, a row whose event is gone, is
    ``core.custody.verify_custody``'s check.
    """
    roots = {cp.tree_size: cp.root_hash for cp in checkpoints}
    anchors = {a.tx_hash: a for a in session.scalars(select(LedgerAnchor))}
    events = session.scalars(
        select(CustodyEvent)
        .where(CustodyEvent.action.in_([Action.REGISTER.value, Action.ANCHOR.value]))
        .order_by(CustodyEvent.chain, CustodyEvent.seq)
    )
    for event in events:
        where = f"custody event #{event.seq} ({event.action}) of chain {event.chain}"
        try:
            details = parse_untrusted_json(event.details)
        except ValueError:
            raise VerificationError(f"{where}: details are not canonical JSON") from None
        if not isinstance(details, dict):
            raise VerificationError(f"{where}: details are not an object")
        if event.action == Action.REGISTER:
            index, size = details.get("leaf_index"), details.get("tree_size")
            if not isinstance(index, int) or not 0 <= index < len(leaves):
                raise VerificationError(
                    f"{where}: ledger leaf #{index} it registered is missing "
                    f"(the log holds {len(leaves)} leaves)"
                )
            if leaves[index].leaf_hash != details.get("leaf_hash"):
                raise VerificationError(f"{where}: ledger leaf #{index} differs from it")
            if not isinstance(size, int) or roots.get(size) != details.get("root_hash"):
                raise VerificationError(
                    f"{where}: the checkpoint of size {size} it recorded is missing or differs"
                )
        else:
            row = anchors.get(str(details.get("tx_hash")))
            if row is None or anchor_json(row) != details:
                raise VerificationError(
                    f"{where}: anchor {details.get('tx_hash')} is missing from the log or differs"
                )
