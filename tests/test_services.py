"""core.services: all-or-nothing ingest and analysis, deduplication, reads as custody events."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import services
from core.app import Verity
from core.custody import Action
from core.db import CaseMedia, CustodyEvent, MediaItem
from core.errors import BadInputError


def count(app: Verity, model) -> int:
    with app.db.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_database_failure_takes_back_the_stored_file(
    verity: Verity, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("database went away mid-transaction")

    monkeypatch.setattr(services, "_file_in_case", broken)
    with pytest.raises(RuntimeError):
        services.ingest(verity, photo, None)
    assert verity.store.list_hashes() == []
    assert count(verity, MediaItem) == 0 and count(verity, CustodyEvent) == 0


def test_a_failed_ingest_keeps_the_object_a_concurrent_ingest_filed(
    verity: Verity, photo: Path, tmp_path: Path
) -> None:
    """Two ingests of the same new bytes: A stores them, B finds them stored and files them
    while A is still probing; A is then interrupted (Ctrl+C). A took back "its" object and
    left B's filing pointing at nothing: evidence gone from the store."""
    copy = tmp_path / "same-bytes.jpg"
    copy.write_bytes(photo.read_bytes())
    services.create_case(verity, "a")
    services.create_case(verity, "b")
    filed: list[services.Ingested] = []

    def hook(step: str, **_: object) -> None:
        if step == "probe" and not filed:  # A has stored the bytes; B runs to completion
            filed.append(services.ingest(verity, copy, "b"))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        services.ingest(verity, photo, "a", hook)
    (b,) = filed
    assert not b.new_object  # B relied on A's copy
    verity.store.verify(b.sha256)  # still there, still whole
    assert count(verity, CaseMedia) == 1


def test_a_failed_analysis_keeps_the_figures_a_concurrent_analysis_filed(
    verity: Verity, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two analyses of the same media make the same figures (same bytes, same hash): A stores
    them, B finds them stored and records its analysis citing them, then A's write fails. A
    took back "its" figures, and B's stored evidence cited heatmaps that were gone."""
    services.create_case(verity, "a")
    store_analysis = services.store_analysis
    filed: list[dict] = []
    calls: list[int] = []

    def a_fails_after_b(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # A's write: B runs to completion first, then A is interrupted
            filed.append(services.analyze(verity, photo, "a", detectors=["visual.blend"]))
            raise KeyboardInterrupt
        return store_analysis(*args, **kwargs)

    monkeypatch.setattr(services, "store_analysis", a_fails_after_b)
    with pytest.raises(KeyboardInterrupt):
        services.analyze(verity, photo, "a", detectors=["visual.blend"])
    (b,) = filed
    cited = [ref["sha256"] for det in b["detectors"] for ref in det["artifacts"]]
    assert cited, "visual.blend draws a heatmap for a face"
    for sha in cited:
        verity.artifact_store.verify(sha)  # still there, still whole
    services.analysis_artifacts(verity, b["analysis_id"])  # as the case file reads them


def test_same_bytes_are_one_media_item_in_two_cases(verity: Verity, photo: Path, tmp_path) -> None:
    copy = tmp_path / "renamed.jpg"
    copy.write_bytes(photo.read_bytes())
    services.create_case(verity, "x")
    services.create_case(verity, "y")
    a = services.ingest(verity, photo, "x")
    b = services.ingest(verity, copy, "y")
    again = services.ingest(verity, copy, "y")
    assert a.media_id == b.media_id == again.media_id
    assert a.new_object and not b.new_object
    assert b.new_in_case and not again.new_in_case
    assert count(verity, MediaItem) == 1 and count(verity, CaseMedia) == 2
    assert len(verity.store.list_hashes()) == 1


def test_reading_an_analysis_is_a_custody_event(verity: Verity, photo: Path) -> None:
    result = services.analyze(verity, photo, None)
    shown = services.get_analysis(verity, result["analysis_id"][:10], via="test")
    assert shown["analysis_id"] == result["analysis_id"]
    with verity.db.session() as s:
        last = s.scalars(
            select(CustodyEvent)
            .where(CustodyEvent.chain == result["case_id"])
            .order_by(CustodyEvent.seq.desc())
        ).first()
    assert last is not None and last.action == Action.READ and '"via":"test"' in last.details
    services.check_custody(verity)


def test_case_names_are_validated(verity: Verity) -> None:
    for bad in ("", "   ", "x" * 201, "line\nbreak"):
        with pytest.raises(BadInputError):
            services.create_case(verity, bad)


def test_a_case_description_has_a_limit(verity: Verity) -> None:
    """Five million characters were stored twice (the case and its custody event) and shown."""
    with pytest.raises(BadInputError, match=r"at most 10,000 characters, this one has 10,001"):
        services.create_case(verity, "Inquiry", "x" * 10_001)
    assert services.list_cases(verity) == []
    assert services.create_case(verity, "Inquiry", "x" * 10_000)["description"] == "x" * 10_000


def test_garbage_is_refused_before_it_is_copied_into_the_store(
    verity: Verity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photo: Path
) -> None:
    """A large file of garbage is screened on its header and refused without the copy and hash
    that storing it would cost (a 5 GB one took 35 s before); real media is still stored and
    probed on the stored copy."""
    from core.errors import UnsupportedMediaError

    garbage = tmp_path / "huge.mp4"
    with garbage.open("wb") as handle:  # sparse: 300 MB on paper, nothing on disk
        handle.truncate(300 * 1024**2)
    copies: list[Path] = []
    put = verity.store.put
    monkeypatch.setattr(verity.store, "put", lambda path: copies.append(path) or put(path))
    with pytest.raises(UnsupportedMediaError, match="not a video, audio or image"):
        services.ingest(verity, garbage, None)
    assert copies == []
    assert verity.store.list_hashes() == []
    services.ingest(verity, photo, None)
    assert copies == [photo]
