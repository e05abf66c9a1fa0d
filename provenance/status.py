"""Read-only views of the registration log for people: is this media registered, under which
checkpoint, is that checkpoint anchored on chain, and what the log holds.

The dashboard's case file, Register, Verify and Ledger pages read these; they write nothing.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from core.app import Verity
from core.db import LedgerAnchor, LedgerCheckpoint, LedgerLeaf
from core.errors import BadInputError, VerificationError
from provenance import ledger, ledger_audit
from provenance.ledger_rows import leaf_record


def registration_state(app: Verity, sha256: str) -> dict[str, Any]:
    """Registration of one media item: leaf, the newest checkpoint covering it, its anchor."""
    with app.db.session() as session:
        leaf = session.scalars(select(LedgerLeaf).where(LedgerLeaf.media_sha256 == sha256)).first()
        if leaf is None:
            return {"registered": False}
        record = leaf_record(leaf)
        checkpoint = session.scalars(
            select(LedgerCheckpoint)
            .where(LedgerCheckpoint.tree_size > leaf.idx)
            .order_by(LedgerCheckpoint.tree_size.desc())
        ).first()
        anchor = session.scalars(
            select(LedgerAnchor)
            .where(LedgerAnchor.tree_size > leaf.idx)
            .order_by(LedgerAnchor.tree_size.desc())
        ).first()
        return {
            "registered": True,
            "leaf_index": leaf.idx,
            "registered_at": record.get("registered_at"),
            "registrant": record.get("registrant"),
            "note": record.get("note", ""),
            "verdict": (record.get("verdict") or {}).get("verdict"),
            "checkpoint": None
            if checkpoint is None
            else {"tree_size": checkpoint.tree_size, "root_hash": checkpoint.root_hash},
            "anchor": None if anchor is None else ledger.anchor_json(anchor),
        }


def checkpoints(app: Verity, limit: int = 50) -> list[dict[str, Any]]:
    """The newest signed checkpoints, each with whether its root is anchored."""
    with app.db.session() as session:
        anchored = set(session.scalars(select(LedgerAnchor.root_hash)))
        rows = session.scalars(
            select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(limit)
        )
        out = []
        for row in rows:
            body = json.loads(row.body)
            out.append(
                {
                    "tree_size": row.tree_size,
                    "root_hash": row.root_hash,
                    "timestamp": body["checkpoint"]["timestamp"],
                    "key_id": body["checkpoint"]["key_id"],
                    "anchored": row.root_hash in anchored,
                }
            )
        return out


def anchors(app: Verity) -> list[dict[str, Any]]:
    with app.db.session() as session:
        rows = session.scalars(select(LedgerAnchor).order_by(LedgerAnchor.tree_size.desc()))
        return [ledger.anchor_json(row) for row in rows]


def audit_result(app: Verity) -> dict[str, Any]:
    """``ledger_audit.audit`` as data: intact with counts and root, or the first problem."""
    try:
        return {"ok": True, **ledger_audit.audit(app), "message": "ledger intact"}
    except VerificationError as exc:
        return {"ok": False, "message": str(exc)}


def ledger_summary(app: Verity, sha256: str) -> dict[str, Any] | None:
    """The receipt of registered media in brief, or None when it is not registered."""
    try:
        receipt = ledger.receipt(app, sha256)
    except BadInputError:
        return None  # not registered
    checkpoint = receipt.checkpoint.checkpoint
    return {
        "leaf_index": receipt.leaf_index,
        "registered_at": receipt.record.get("registered_at"),
        "registrant": receipt.record.get("registrant"),
        "log_id": checkpoint.log_id,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "checkpoint_time": checkpoint.timestamp,
        "key_id": checkpoint.key_id,
        "public_key": receipt.public_key,
        "anchor": None if receipt.anchor is None else receipt.anchor.model_dump(),
    }
