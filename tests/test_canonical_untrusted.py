"""core.canonical.parse_untrusted_json: outside JSON is measured before it is parsed."""

from __future__ import annotations

import json

import pytest

from core.canonical import MAX_JSON_DEPTH, json_depth, parse_untrusted_json


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": "[[[[", "b": [1, {"c": []}]}', 4),  # brackets in strings do not count
        ('{"a": "x\\"[[", "b": [1]}', 2),  # nor after an escaped quote
        ("[" * 50 + "]" * 50, 50),
    ],
)
def test_depth_is_counted_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_parses_what_verity_writes_and_refuses_what_would_crash_the_parser() -> None:
    document = {"record": {"sha256": "ab" * 32, "note": "[{\\"}, "proof": [["x"] * 3] * 20}
    assert parse_untrusted_json(json.dumps(document).encode()) == document
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_JSON_DEPTH}"):
        parse_untrusted_json("[" * 99_000 + "]" * 99_000)
    with pytest.raises(ValueError):  # an unterminated run of escapes: linear, and refused
        parse_untrusted_json('"' + '\\"' * 200_000)
