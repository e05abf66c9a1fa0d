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
from core.errors import CustodyChainBrokenError, VerificationError


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
