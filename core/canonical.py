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
