"""core.custody: hash chains that name the first broken event, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from core import services
from core.app import Verity
from core.custody import GENESIS_HASH, Action, append_event, verify_custody
from core.db import Analysis, CustodyEvent, DetectorResult
from core.errors import CustodyChainBrokenError, CustodyRecordMismatchError, VerificationError


def _events(app: Verity, chain: str) -> list[CustodyEvent]:
    with app.db.session() as s:
        return list(
            s.scalars(
                select(CustodyEvent).where(CustodyEvent.chain == chain).order_by(CustodyEvent.seq)
            )
        )


def test_events_link_into_a_chain(verity: Verity, photo: Path) -> None:
    result = services.analyze(verity, photo, None)
    events = _events(verity, result["case_id"])
    assert [e.action for e in events] == [Action.CASE_CREATE, Action.INGEST, Action.ANALYZE]
    assert events[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.event_hash
    assert events[1].object_sha256 == result["media"]["sha256"]
    with verity.db.session() as s:
        report = verify_custody(s)
    assert report.events == 3 and report.heads[result["case_id"]] == events[-1].event_hash


def test_editing_an_event_is_named(verity: Verity, photo: Path) -> None:
    result = services.analyze(verity, photo, None)
    target = _events(verity, result["case_id"])[1]
    with verity.db.session() as s:
        s.execute(
            update(CustodyEvent).where(CustodyEvent.id == target.id).values(actor="someone-else")
        )
    with pytest.raises(CustodyChainBrokenError) as caught, verity.db.session() as s:
        verify_custody(s)
    assert caught.value.event_id == target.id and caught.value.seq == 1
    assert "altered" in str(caught.value)


def test_removing_or_reordering_events_is_caught(verity: Verity, photo: Path, clip: Path) -> None:
    services.analyze(verity, photo, None)
    result = services.analyze(verity, clip, None)
    events = _events(verity, result["case_id"])
    with verity.db.session() as s:
        s.execute(text("DELETE FROM custody_events WHERE id = :id"), {"id": events[2].id})
    with (
        pytest.raises(CustodyChainBrokenError, match="missing") as caught,
        verity.db.session() as s,
    ):
        verify_custody(s)
    assert caught.value.seq == 3


def test_removing_the_newest_event_is_caught_by_its_record(verity: Verity, photo: Path) -> None:
    result = services.analyze(verity, photo, None)
    last = _events(verity, result["case_id"])[-1]
    with verity.db.session() as s:
        s.execute(text("DELETE FROM custody_events WHERE id = :id"), {"id": last.id})
    with pytest.raises(VerificationError, match="no analyze event"), verity.db.session() as s:
        verify_custody(s)


def test_altering_an_analysis_is_caught(verity: Verity, photo: Path) -> None:
    result = services.analyze(verity, photo, None)
    with verity.db.session() as s:
        s.execute(
            update(Analysis).where(Analysis.id == result["analysis_id"]).values(verdict="authentic")
        )
    with pytest.raises(VerificationError, match="altered"), verity.db.session() as s:
        verify_custody(s)


def test_altering_a_detector_result_is_caught(verity: Verity, photo: Path) -> None:
    result = services.analyze(verity, photo, None)
    with verity.db.session() as s:
        s.execute(
            update(DetectorResult)
            .where(DetectorResult.analysis_id == result["analysis_id"])
            .values(raw_score=-3.0)
        )
    with pytest.raises(VerificationError, match="altered"), verity.db.session() as s:
        verify_custody(s)


def test_concurrent_append_cannot_fork_the_chain(verity: Verity) -> None:
    case = services.create_case(verity, "race")
    with verity.db.session() as s:
        head = s.scalars(select(CustodyEvent).where(CustodyEvent.chain == case["id"])).one()
    fork = CustodyEvent(
        id="f" * 32,
        chain=case["id"],
        seq=head.seq,
        at=head.at,
        actor="x",
        action="read",
        case_id=case["id"],
        object_sha256=None,
        details="{}",
        prev_hash=GENESIS_HASH,
        event_hash="0" * 64,
    )
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), verity.db.session() as s:
        s.add(fork)
    with verity.db.session() as s:
        append_event(s, actor="t", action=Action.READ, case_id=case["id"], details={"n": 1})
        assert verify_custody(s, case["id"]).events == 2


def test_verify_one_case_only(verity: Verity, photo: Path, clip: Path) -> None:
    services.create_case(verity, "a")
    services.create_case(verity, "b")
    services.analyze(verity, photo, "a")
    b = services.analyze(verity, clip, "b")
    first_b = _events(verity, b["case_id"])[0]
    with verity.db.session() as s:
        s.execute(
            update(CustodyEvent).where(CustodyEvent.id == first_b.id).values(details='{"name":"x"}')
        )
    services.check_custody(verity, "a")
    with pytest.raises(CustodyChainBrokenError):
        services.check_custody(verity, "b")


# ------------------------------------------- each event still has its row, and the row agrees


def _tamper(app: Verity, *statements: str, **params: str) -> None:
    """Edit the database behind Verity's back, children before parents (so that the foreign
    keys hold on SQLite and PostgreSQL alike)."""
    with app.db.session() as s:
        for statement in statements:
            s.execute(text(statement), params)


def _mismatch(app: Verity, case_id: str | None = None) -> CustodyRecordMismatchError:
    with pytest.raises(CustodyRecordMismatchError) as caught, app.db.session() as s:
        verify_custody(s, case_id)
    return caught.value


def _event(app: Verity, case_id: str, action: Action) -> CustodyEvent:
    (event,) = [e for e in _events(app, case_id) if e.action == action]
    return event


def test_an_analysis_removed_after_its_event_is_named(verity: Verity, photo: Path) -> None:
    result = services.analyze(verity, photo, None)
    _tamper(
        verity,
        "DELETE FROM detector_results WHERE analysis_id = :a",
        "DELETE FROM analyses WHERE id = :a",
        a=result["analysis_id"],
    )
    problem = _mismatch(verity)
    event = _event(verity, result["case_id"], Action.ANALYZE)
    assert (problem.event_id, problem.seq) == (event.id, 2)
    assert result["analysis_id"] in str(problem) and "no such analysis" in str(problem)
    assert str(problem).startswith(f"case {result['case_id']}: analyze event #2")


def test_an_analysis_moved_to_another_case_is_named_in_both(
    verity: Verity, photo: Path, clip: Path
) -> None:
    a = services.analyze(verity, photo, None)
    b = services.analyze(verity, clip, services.create_case(verity, "b")["id"])
    _tamper(
        verity, "UPDATE analyses SET case_id = :b WHERE id = :a", a=a["analysis_id"], b=b["case_id"]
    )
    assert (
        _mismatch(verity, a["case_id"]).event_id == _event(verity, a["case_id"], Action.ANALYZE).id
    )
    with pytest.raises(VerificationError, match="no analyze event"), verity.db.session() as s:
        verify_custody(s, b["case_id"])


def test_a_filing_removed_after_its_ingest_event_is_named(verity: Verity, photo: Path) -> None:
    """The audit's repro: the analyses and the filing go, the chain alone still links."""
    result = services.analyze(verity, photo, None)
    _tamper(
        verity,
        "DELETE FROM detector_results",
        "DELETE FROM analyses",
        "DELETE FROM case_media WHERE case_id = :c",
        c=result["case_id"],
    )
    problem = _mismatch(verity)
    assert problem.event_id == _event(verity, result["case_id"], Action.INGEST).id
    assert "'photo.jpg'" in str(problem) and "media row is gone" in str(problem)


@pytest.mark.parametrize(
    ("statement", "recorded", "found"),
    [
        ("UPDATE case_media SET original_name = 'forged.png'", "'photo.jpg'", "'forged.png'"),
        ("UPDATE media_items SET kind = 'video'", "'image'", "'video'"),
        ("UPDATE media_items SET size_bytes = 1", "size_bytes", "has 1"),
    ],
    ids=["original_name", "kind", "size_bytes"],
)
def test_a_filing_that_differs_from_its_ingest_event_is_named(
    verity: Verity, photo: Path, statement: str, recorded: str, found: str
) -> None:
    result = services.analyze(verity, photo, None)
    _tamper(verity, statement)
    problem = _mismatch(verity, result["case_id"])
    assert problem.event_id == _event(verity, result["case_id"], Action.INGEST).id
    assert recorded in str(problem) and found in str(problem)


def test_media_filed_without_an_ingest_event_is_named(verity: Verity, photo: Path) -> None:
    services.analyze(verity, photo, None)
    other = services.create_case(verity, "other")
    _tamper(
        verity,
        "INSERT INTO case_media (case_id, media_id, original_name, added_at, added_by) "
        "SELECT :c, media_id, original_name, added_at, added_by FROM case_media",
        c=other["id"],
    )
    with (
        pytest.raises(VerificationError, match="no matching ingest event"),
        verity.db.session() as s,
    ):
        verify_custody(s, other["id"])


def test_a_case_that_differs_from_its_creation_event_is_named(verity: Verity) -> None:
    case = services.create_case(verity, "c1", "seized phone, exhibit 4")
    created = _event(verity, case["id"], Action.CASE_CREATE)
    _tamper(verity, "UPDATE cases SET description = 'nothing to see'")
    problem = _mismatch(verity)
    assert problem.event_id == created.id and "'seized phone, exhibit 4'" in str(problem)
    _tamper(verity, "UPDATE cases SET description = 'seized phone, exhibit 4', name = 'c2'")
    assert "'c2'" in str(_mismatch(verity, case["id"]))


def test_a_case_removed_with_its_records_is_named_by_its_chain(verity: Verity, photo: Path) -> None:
    case = services.create_case(verity, "gone")
    result = services.analyze(verity, photo, case["id"])
    _tamper(
        verity,
        "DELETE FROM detector_results",
        "DELETE FROM analyses",
        "DELETE FROM case_media",
        "DELETE FROM cases WHERE id = :c",
        c=case["id"],
    )
    problem = _mismatch(verity)
    assert problem.event_id == _event(verity, result["case_id"], Action.CASE_CREATE).id
    assert "'gone'" in str(problem) and "row is gone" in str(problem)


def test_legitimate_handling_keeps_the_records_consistent(
    verity: Verity, photo: Path, clip: Path, tmp_path: Path
) -> None:
    """The same bytes filed in two cases under two names, read, viewed and analysed twice."""
    from core import casefile

    a = services.analyze(verity, photo, services.create_case(verity, "a", "first")["id"])
    services.analyze(verity, photo, a["case_id"])
    services.analyze(verity, clip, a["case_id"])
    b = services.create_case(verity, "b")
    copy = tmp_path / "renamed.jpg"
    copy.write_bytes(photo.read_bytes())
    services.analyze(verity, copy, b["id"])
    services.get_analysis(verity, a["analysis_id"])
    casefile.open_case_file(verity, a["case_id"])
    with verity.db.session() as s:
        assert verify_custody(s).chains == 2
        assert verify_custody(s, b["id"]).events == 3
