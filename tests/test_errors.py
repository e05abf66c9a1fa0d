"""core.errors: every error survives the trip between processes with its message and fields."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from core import errors


def _samples() -> list[errors.VerityError]:
    return [
        errors.MediaError(Path("/data/f2.wav"), "is empty (0 bytes)"),
        errors.CaseNotFoundError("Inquiry 9"),
        errors.AnalysisNotFoundError("3f2a9c1d"),
        errors.PermissionDeniedError("ana", "analyst", "register media"),
        errors.UnknownDetectorError("visual.nope", ["visual.blend"]),
        errors.CustodyChainBrokenError("c1", 3, "e1", "content was altered"),
        errors.CustodyRecordMismatchError("c1", 2, "e2", "analyze", "records analysis a1"),
        errors.StoreDamagedError("object ab is corrupt"),
        errors.BadInputError("plain"),
    ]


@pytest.mark.parametrize("error", _samples(), ids=lambda e: type(e).__name__)
def test_pickle_round_trip_keeps_type_message_fields_and_exit_code(
    error: errors.VerityError,
) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error) and again.args == error.args
    assert again.exit_code == error.exit_code and vars(again) == vars(error)


def _raise_media_error(name: str) -> None:
    raise errors.MediaError(Path(name), "is empty (0 bytes)")


def test_an_error_raised_in_a_worker_process_reaches_the_caller_intact() -> None:
    """Before, unpickling MediaError in the parent failed and the pool broke (exit 1)."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_raise_media_error, "/data/f2.wav")
        with pytest.raises(errors.MediaError, match=r"^/data/f2\.wav: is empty \(0 bytes\)$"):
            future.result(timeout=60)


@pytest.mark.parametrize("cls", [errors.AnalysisNotFoundError, errors.JobNotFoundError])
def test_a_short_hex_id_is_told_that_a_prefix_needs_eight_digits(cls: type) -> None:
    """Tables print 8 digits; fewer were answered "no job" as if the id did not exist at all."""
    assert str(cls("3f2a9c")).endswith("(a prefix needs at least 8 hex digits)")
    for ref in ("3f2a9c1d", "0" * 32, "inquiry", ""):
        assert "prefix" not in str(cls(ref))
