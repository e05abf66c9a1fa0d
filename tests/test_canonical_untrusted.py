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


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"note": "forged", "note": ""}', "'note' is given twice"),
        ('{"a": {"b": 1, "b": 1}}', "'b' is given twice"),  # even with the same value
        ('{"verdict": NaN}', "NaN is not a JSON number"),
        ("[Infinity]", "Infinity is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ("[1e400]", "1e400 does not fit a finite float"),
    ],
)
def test_refuses_json_that_says_two_things_or_has_no_canonical_form(text: str, words: str) -> None:
    """Python reads these without complaint (the last key wins, NaN and inf become floats)."""
    assert json.loads(text) is not None
    with pytest.raises(ValueError, match=words):
        parse_untrusted_json(text)


def test_keeps_numbers_as_canonical_json_writes_them() -> None:
    values = [0, -0.0, 1.5, 2**70, 1e-300, 1.7976931348623157e308]
    assert parse_untrusted_json(json.dumps(values)) == values
