"""Case files: what the dashboard shows, and that opening one is a custody event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, update

from core import casefile, services
from core.app import Verity
from core.custody import verify_custody
from core.db import CustodyEvent
from core.errors import CaseNotFoundError, NotFoundError
from core.users import Account, Role, acting_as


def test_opening_a_case_file_is_a_view_event(verity: Verity, clip: Path) -> None:
    result = services.analyze(verity, clip, None)
    reader = acting_as(verity, Account("audrey", Role.AUDITOR))
    data = casefile.open_case_file(reader, result["case_id"])
    with verity.db.session() as s:
        views = s.scalars(select(CustodyEvent).where(CustodyEvent.action == "view")).all()
        assert [(v.actor, v.chain) for v in views] == [("audrey@dashboard", result["case_id"])]
        assert json.loads(views[0].details)["analysis_ids"] == [result["analysis_id"]]
        verify_custody(s)
    assert data["custody"][-1]["action"] == "view"
    # reading without opening (a rerun of the same page) writes nothing
    casefile.case_file(reader, result["case_id"])
    with verity.db.session() as s:
        assert len(s.scalars(select(CustodyEvent).where(CustodyEvent.action == "view")).all()) == 1


def test_case_file_holds_verdict_series_and_cards(verity: Verity, clip: Path) -> None:
    result = services.analyze(verity, clip, None)
    data = casefile.case_file(verity, result["case_id"])
    (item,) = data["media"]
    (analysis,) = item["analyses"]
    assert analysis["analysis_id"] == result["analysis_id"]
    assert analysis["verdict"] == result["verdict"] and analysis["p_fake"] == result["p_fake"]
    detectors = {d["name"]: d for d in analysis["detectors"]}
    spectrum = [p for p in analysis["series"] if p["detector"] == "visual.spectrum"]
    stored = detectors["visual.spectrum"]
    assert spectrum and all(0.0 <= p["start_s"] < p["end_s"] <= 2.1 for p in spectrum)
    assert stored["card"]["available"] and stored["card"]["cited"]
    assert stored["card"]["sha256"] == stored["card_sha256"]
    assert "video" in stored["card"]["metrics"]
    assert item["c2pa"]["state"] == "None"
    assert [e["action"] for e in data["custody"]] == ["case.create", "ingest", "analyze"]


def test_card_that_changed_since_the_analysis_is_flagged(verity: Verity, photo: Path) -> None:
    result = services.analyze(verity, photo, None)
    with verity.db.session() as s:
        from core.db import DetectorResult

        row = s.scalars(
            select(DetectorResult).where(DetectorResult.detector == "visual.metadata")
        ).one()
        evidence = dict(row.evidence or {})
        evidence["card_sha256"] = "0" * 64
        s.execute(
            update(DetectorResult).where(DetectorResult.id == row.id).values(evidence=evidence)
        )
    data = casefile.case_file(verity, result["case_id"])
    det = next(
        d for d in data["media"][0]["analyses"][0]["detectors"] if d["name"] == "visual.metadata"
    )
    assert det["card"]["cited"] is False and "changed" in det["card"]["note"]


def test_search_cases(verity: Verity) -> None:
    services.create_case(verity, "Inquiry 2026-114", "clip from the newsroom")
    services.create_case(verity, "Audit", "quarterly")
    assert [c["name"] for c in casefile.search_cases(verity, "NEWSROOM")] == ["Inquiry 2026-114"]
    assert len(casefile.search_cases(verity, "")) == 2
    assert casefile.search_cases(verity, "nothing like it") == []


def test_custody_verification_as_data(verity: Verity, photo: Path) -> None:
    result = services.analyze(verity, photo, None)
    ok = casefile.verify_case_custody(verity, result["case_id"])
    assert ok["ok"] and ok["events"] == 3 and len(ok["head"]) == 64
    with verity.db.session() as s:
        s.execute(
            update(CustodyEvent).where(CustodyEvent.action == "ingest").values(actor="mallory")
        )
    broken = casefile.verify_case_custody(verity, result["case_id"])
    assert not broken["ok"] and "content was altered" in broken["message"]


def test_spectrogram_of_the_soundtrack(verity: Verity, clip: Path, photo: Path) -> None:
    clip_sha = services.analyze(verity, clip, None)["media"]["sha256"]
    photo_sha = services.analyze(verity, photo, None)["media"]["sha256"]
    spec = casefile.spectrogram(verity, clip_sha)
    assert spec is not None
    assert len(spec["power_db"]) == len(spec["times"]) <= 240
    assert len(spec["power_db"][0]) == len(spec["freqs"]) <= 64
    assert spec["freqs"][-1] < 8000 and spec["times"][-1] < 2.1
    # the 220 Hz tone is the loudest band
    mean_db = [sum(col[i] for col in spec["power_db"]) for i in range(len(spec["freqs"]))]
    loudest = max(range(len(spec["freqs"])), key=lambda i: mean_db[i])
    assert abs(spec["freqs"][loudest] - 220) <= 2 * spec["df"]
    assert casefile.spectrogram(verity, photo_sha) is None


def test_unknown_case_and_media(verity: Verity) -> None:
    with pytest.raises(CaseNotFoundError):
        casefile.open_case_file(verity, "no such case")
    with pytest.raises(NotFoundError):
        casefile.stored_media_path(verity, "a" * 64)


def test_frame_at_a_chosen_time(verity: Verity, clip: Path, tone: Path) -> None:
    clip_sha = services.analyze(verity, clip, None)["media"]["sha256"]
    first = casefile.frame_at(verity, clip_sha, 0.0)
    later = casefile.frame_at(verity, clip_sha, 1.0)
    assert first is not None and later is not None
    assert first[0] == pytest.approx(0.0) and later[0] == pytest.approx(1.0, abs=0.041)
    assert first[1].shape == later[1].shape == (240, 320, 3)
    assert (first[1] != later[1]).any()  # the drawn face moves
    small = casefile.frame_at(verity, clip_sha, 1.0, max_side=160)
    assert small is not None and small[1].shape == (120, 160, 3)
    tone_sha = services.analyze(verity, tone, None)["media"]["sha256"]
    assert casefile.frame_at(verity, tone_sha, 0.5) is None


def test_a_picture_is_shown_upright_as_the_detectors_saw_it(verity: Verity, tmp_path: Path) -> None:
    """A camera JPEG stored sideways with EXIF orientation 6: the dashboard shows the upright
    pixels the detectors and heatmaps used, not the stored ones, and never wider than asked."""
    import numpy as np
    from PIL import Image

    stored = np.zeros((300, 400, 3), dtype=np.uint8)
    stored[:60, :80] = 255
    path = tmp_path / "portrait.jpg"
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(path, quality=95, exif=exif)
    item = services.ingest(verity, path, None)
    shown = casefile.picture(verity, item.sha256, max_side=200)
    assert shown.shape == (200, 150, 3)  # upright (portrait) and shrunk
    assert shown[:35, 125:].mean() > 200  # the stored top-left block now top right
    assert shown[:35, :100].mean() < 20


def test_spectrogram_spans_a_long_recording(verity: Verity, tmp_path: Path) -> None:
    """A 20-minute recording, silent but for a 1 kHz tone at 1000-1010 s: the spectrogram spans
    what the audio detectors read (up to an hour; before, its first 300 s), pooled to at most
    240 columns, and the tone lies in the column of its time and band."""
    import numpy as np
    import soundfile

    rate = 8_000
    path = tmp_path / "long.flac"
    with soundfile.SoundFile(path, "w", rate, 1, subtype="PCM_16", format="FLAC") as handle:
        handle.write(np.zeros(rate * 1000, np.float32))
        handle.write(0.5 * np.sin(2 * np.pi * 1000 * np.arange(rate * 10) / rate))
        handle.write(np.zeros(rate * 190, np.float32))
    item = services.ingest(verity, path, None)
    spec = casefile.spectrogram(verity, item.sha256)
    assert spec is not None and len(spec["times"]) <= 240
    assert spec["dt"] == pytest.approx(5.0) and spec["times"][-1] == pytest.approx(1195.0)
    power = np.array(spec["power_db"])
    column, band = np.unravel_index(np.argmax(power), power.shape)
    assert 1000 <= spec["times"][column] < 1010
    assert abs(spec["freqs"][band] + spec["df"] / 2 - 1000) <= spec["df"]


def test_each_analysis_of_a_case_is_checked_against_its_own_event(
    verity: Verity, photo: Path, tone: Path
) -> None:
    """The case's analyze events are read once for all its analyses: an altered one is named,
    the others are still shown, and one whose event is gone is named too."""
    from core.db import Analysis

    first = services.analyze(verity, photo, None)
    second = services.analyze(verity, tone, first["case_id"])
    with verity.db.session() as s:
        s.execute(update(Analysis).where(Analysis.id == first["analysis_id"]).values(p_fake=0.5))
    data = casefile.case_file(verity, first["case_id"])
    problems = {a["analysis_id"]: a["record_problem"] for m in data["media"] for a in m["analyses"]}
    assert problems[second["analysis_id"]] is None
    assert "differs from what its analyze event recorded" in problems[first["analysis_id"]]

    with verity.db.session() as s:
        s.execute(
            update(CustodyEvent)
            .where(
                CustodyEvent.action == "analyze",
                CustodyEvent.details.contains(second["analysis_id"]),
            )
            .values(details="{}")
        )
    data = casefile.case_file(verity, first["case_id"])
    problems = {a["analysis_id"]: a["record_problem"] for m in data["media"] for a in m["analyses"]}
    assert "has no analyze event" in problems[second["analysis_id"]]
