"""Canonical JSON: the one byte representation that is hashed and signed.

Sorted keys, no whitespace, UTF-8, and no NaN or infinity (they have no JSON form and would make two
honest implementations disagree). Python's float repr is the shortest round-trip form, so a float
read back from the database hashes the same as when it was written.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_canonical(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


# Receipts, signatures and reports nest a few levels; nothing Verity writes comes near this.
MAX_JSON_DEPTH = 100
# A backslash pair, a quote or a bracket: one pass, linear in the input (no backtracking).
_JSON_TOKEN = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text`` (brackets inside strings do not count).

    Text after a backslash outside a string is not JSON; the parser stops there, so what is
    counted up to it is all the recursion the parser could reach.
    """
    depth = deepest = 0
    in_string = False
    for match in _JSON_TOKEN.finditer(text):
        mark = match.group()
        if in_string:
            in_string = mark != '"'
        elif mark == '"':
            in_string = True
        elif mark in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif mark in "]}":
            depth -= 1
    return deepest


def parse_untrusted_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for bytes that came from outside (receipts, signatures, reports).

    The parser recurses once per nesting level. Under the default recursion limit a file of ten
    thousand ``[`` raises RecursionError (not a ValueError, so a verifier would crash instead of
    failing its format check); once a library has raised the limit (py_ecc, which the anchoring
    code imports, sets 100,000) the same file overflows the C stack and kills the process. So
    the depth is measured first, without recursion, and anything deeper than ``max_depth`` is
    malformed JSON like any other.

    Two more things Python's parser accepts and a verifier must not. A key given twice
    (``{"note": "forged", "note": ""}``) keeps the last value here while a person or another
    parser reads the first, so one file would say two things; and ``NaN``, ``Infinity`` or a
    number too large for a float (``1e400``) have no canonical form, so a record holding one can
    never hash as it was signed. Each is a ``ValueError`` like any other malformed JSON.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if json_depth(text) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    return json.loads(
        text,
        object_pairs_hook=_object_without_repeats,
        parse_constant=_no_constant,
        parse_float=_finite_float,
    )


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} is given twice")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} does not fit a finite float")
    return value
