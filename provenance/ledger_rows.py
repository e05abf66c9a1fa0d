"""Reading the ledger's rows without trusting them.

Whoever can write the database can edit any row of the log. Leaves and checkpoint bodies are
covered by hashes and signatures, but a command that reads a row to build on it (a record shown
by ``lookup``, a frontier extended by ``register``, a body put in a receipt) must check it first:
a damaged row should stop the command with its name (exit 3), never crash it, and never be
signed over. ``ledger_audit.audit`` reads the rows through the same functions.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from core.canonical import parse_untrusted_json
from core.db import LedgerCheckpoint, LedgerLeaf
from core.errors import VerificationError
from provenance import merkle
from provenance.receipts import SignedCheckpoint

_HEX64 = re.compile(r"[0-9a-f]{64}")


def leaf_record(row: LedgerLeaf) -> dict[str, Any]:
    """The registration record of a leaf row, parsed strictly (a repeated key, NaN or 1e400
    cannot hash as it was signed)."""
    try:
        record = parse_untrusted_json(row.record)
    except ValueError as exc:
        raise VerificationError(
            f"ledger leaf #{row.idx}: record is not canonical JSON ({exc})"
        ) from None
    if not isinstance(record, dict):
        raise VerificationError(f"ledger leaf #{row.idx}: record was altered (not an object)")
    return record


def signed_body(row: LedgerCheckpoint) -> SignedCheckpoint:
    """The signed checkpoint a row stores; its size and root must be the row's columns, which
    queries select by."""
    try:
        signed = SignedCheckpoint.model_validate(parse_untrusted_json(row.body))
    except (ValueError, ValidationError):
        raise VerificationError(f"checkpoint of size {row.tree_size}: unreadable") from None
    if signed.checkpoint.tree_size != row.tree_size or signed.checkpoint.root_hash != row.root_hash:
        raise VerificationError(f"checkpoint of size {row.tree_size}: row differs from its body")
    return signed


def stored_frontier(row: LedgerCheckpoint) -> merkle.Frontier | None:
    """The frontier a checkpoint row keeps for appends; None for rows written before there was
    one (they are rebuilt from the leaves)."""
    if row.frontier is None:
        return None
    try:
        raw = parse_untrusted_json(row.frontier)
    except ValueError:
        raw = None
    if isinstance(raw, list) and all(
        isinstance(item, list)
        and len(item) == 2
        and type(item[0]) is int
        and item[0] >= 1
        and isinstance(item[1], str)
        and _HEX64.fullmatch(item[1])
        for item in raw
    ):
        return [(size, bytes.fromhex(subtree)) for size, subtree in raw]
    raise VerificationError(f"checkpoint of size {row.tree_size}: stored frontier is unreadable")
