"""Canonical JSON: the one byte representation that is hashed and signed.

Sorted keys, no whitespace, UTF-8, and no NaN or infinity (they have no JSON form and would make two
honest implementations disagree). Python's float repr is the shortest round-trip form, so a float
read back from the database hashes the same as when it was written.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_canonical(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def parse_untrusted_json(data: bytes | str) -> Any:
    """``json.loads`` for bytes that came from outside (receipts, signatures, reports).

    Nesting deeper than the parser's recursion limit raises RecursionError, which is not a
    ValueError; a hostile file of ten thousand ``[`` would then crash a verifier instead of
    failing its format check. Here it is malformed JSON like any other.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None
