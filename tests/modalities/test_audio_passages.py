"""A long recording read passage by passage (modalities.audio.passages, audio detectors 1.1.0).

Passages are planned from the length (one for up to 10 minutes, as before; consecutive equal
passages up to an hour; six spread from start to end beyond), read in one decoding pass with
exactly the samples a whole read holds there, and the worst passage decides a detector's score:
a fake stretch late in a recording is no longer diluted by, or hidden behind, the real rest.
Lengths are scaled down (``scaled``) so that the tests stay seconds long.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from core import samples
from modalities.audio import frontend, lfcc_gmm, passages
from tests.modalities.test_audio_frontend import SR, voiced
from tests.modalities.test_audio_lfcc_gmm import band_limited, media, trained  # noqa: F401


def scaled(monkeypatch: pytest.MonkeyPatch, whole: float, most: float, passage: float = 0) -> None:
    """Read whole up to ``whole`` seconds, in passages of at most ``passage`` (default: as long
    as ``whole``) beyond, at most ``most`` seconds in all."""
    monkeypatch.setattr(passages, "WHOLE_S", whole)
    monkeypatch.setattr(passages, "PASSAGE_S", passage or whole)
    monkeypatch.setattr(passages, "MAX_READ_S", most)


def spans(plan: list[passages.Passage]) -> list[tuple[float, float]]:
    return [(round(p.start_s, 3), round(p.end_s, 3)) for p in plan]


def test_plans_for_every_length() -> None:
    assert spans(passages.plan(None)) == [(0.0, 600.0)]  # unknown length: the first 10 minutes
    assert spans(passages.plan(42.0)) == [(0.0, 600.0)]
    assert spans(passages.plan(601.0)) == [(0.0, 600.0)]  # as read before passages existed
    assert spans(passages.plan(602.0)) == [(0.0, 301.0), (301.0, 603.0)]
    hour = passages.plan(3600.0)
    assert len(hour) == 6 and all(b - a <= 600.0 + 1.0 for a, b in spans(hour))
    assert hour[-1].end_s == 3601.0 and [p.start_s for p in hour[1:]] == [
        p.end_s for p in hour[:-1]
    ]  # consecutive: every second of the hour is read
    two_hours = passages.plan(7200.0)
    assert spans(two_hours) == [
        (0.0, 600.0),
        (1320.0, 1920.0),
        (2640.0, 3240.0),
        (3960.0, 4560.0),
        (5280.0, 5880.0),
        (6600.0, 7201.0),
    ]


def test_passages_may_be_shorter_than_the_whole_read(monkeypatch: pytest.MonkeyPatch) -> None:
    scaled(monkeypatch, 600.0, 3600.0, passage=120.0)  # what bench/audio_passages.py compares
    assert spans(passages.plan(500.0)) == [(0.0, 600.0)]
    plan = passages.plan(1800.0)
    assert len(plan) == 15 and plan[1].start_s == 120.0 and plan[-1].end_s == 1801.0


def ramp_file(path: Path, seconds: float) -> np.ndarray:
    wave = (np.sin(np.arange(int(seconds * SR)) * 0.01) * 0.5).astype(np.float32)
    wave *= np.linspace(0.2, 1.0, len(wave), dtype=np.float32)  # no two passages alike
    soundfile.write(path, wave, SR, subtype="FLOAT")
    return wave


def test_passages_hold_exactly_the_sound_a_whole_read_holds_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ramp.wav"
    ramp_file(path, 30.0)
    clip = media(path)
    whole = clip.soundtrack(max_s=60.0)
    scaled(monkeypatch, 4.0, 40.0)  # 8 passages of 3.75 s, across 10-s chunks
    plan = passages.plan(clip.info.duration_s)
    read = list(passages.read(clip, SR, plan))
    assert len(read) == 8 and [p for p, _ in read] == plan
    assert np.array_equal(np.concatenate([w for _, w in read]), whole)
    scaled(monkeypatch, 4.0, 12.0)  # spread: 0-4, 13-17, 26-31 s
    plan = passages.plan(clip.info.duration_s)
    assert spans(plan) == [(0.0, 4.0), (13.0, 17.0), (26.0, 31.0)]
    for passage, wave in passages.read(clip, SR, plan):
        start = round(passage.start_s * SR)
        assert np.array_equal(wave, whole[start : start + len(wave)])
        assert len(wave) == min(round(passage.end_s * SR), len(whole)) - start


def test_a_video_passage_is_read_on_the_video_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = samples.write_clip(tmp_path / "v.mp4", seconds=3.0, with_audio=True)
    clip = media(path)
    whole = clip.soundtrack(max_s=10.0)
    scaled(monkeypatch, 1.0, 10.0)
    read = list(passages.read(clip, SR, passages.plan(clip.info.duration_s)))
    assert len(read) >= 3
    assert np.array_equal(np.concatenate([w for _, w in read]), whole)


def test_up_to_ten_minutes_the_front_end_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    soundfile.write(path, voiced(6.0), SR)
    clip = media(path)
    (only,) = passages.analysed(clip)
    before = frontend.normalize_channel(clip.soundtrack(max_s=600.0))
    assert only.passage == passages.Passage(0.0, 600.0)
    assert np.array_equal(only.wave, before)
    assert np.array_equal(only.mask, frontend.speech_mask(before))


def fake_at_the_end(path: Path) -> None:
    real = voiced(4.0, f0=123, seed=500)
    fake = band_limited(voiced(2.0, f0=123, seed=501))
    soundfile.write(path, np.concatenate([real, fake]), SR)


def test_the_worst_passage_decides_and_every_passage_is_on_the_timeline(
    trained,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """4 s of real-like speech, then 2 s of band-limited speech (this test's fake): read in
    passages of 2 s, each is scored as a file of its own and the fake one decides. (Read whole,
    this toy model's score of the mixture says little: the per-file cepstral mean of a recording
    half real, half fake is neither's, one more reason a passage is scored as a file.)"""
    out, _, _ = trained
    detector = lfcc_gmm.LfccGmmDetector(weights_dir=out)
    path = tmp_path / "late.wav"
    fake_at_the_end(path)
    whole = detector.analyze(media(path))
    scaled(monkeypatch, 2.0, 20.0)
    heard: list[tuple[float, str]] = []
    with (read := media(path)).listening(lambda fraction, detail: heard.append((fraction, detail))):
        split = detector.analyze(read)
    assert heard == [(k / 3, f"passage {k + 1} of 3") for k in range(3)]  # its progress
    finding = next(f for f in split.findings if f.code == "passages")
    assert finding.value == 3
    assert split.summary.startswith("worst of 3 passages, 4–7 s:")
    assert "passages" not in {f.code for f in whole.findings}
    scores = [float(part.split("score ")[1]) for part in finding.message.split("; ")]
    assert split.raw_score == pytest.approx(max(scores), abs=0.005) and np.argmax(scores) == 2
    starts = [p.start_s for p in split.series]
    assert starts == sorted(starts) and starts[0] == 0.0 and max(starts) >= 4.0
    assert split.artifacts and split.artifacts[0].media_type == "image/png"
    top = next(f for f in split.findings if f.code == "top_segments")
    highest = max(split.series, key=lambda p: p.score)
    assert top.value == 3 and top.llr == 0.0
    assert f"{highest.start_s:.0f}–{highest.end_s:.0f} s ({highest.score:+.2f})" in top.message
    assert "truncated_analysis" not in {f.code for f in split.findings}


def test_beyond_the_passages_read_the_evidence_names_the_spans(
    trained,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, _, _ = trained
    scaled(monkeypatch, 2.0, 4.0)
    path = tmp_path / "long.wav"
    soundfile.write(path, voiced(6.0), SR)
    evidence = lfcc_gmm.LfccGmmDetector(weights_dir=out).analyze(media(path))
    truncated = next(f for f in evidence.findings if f.code == "truncated_analysis")
    assert truncated.value == pytest.approx(4.0)
    assert "2 passages (0–2, 4–6 s)" in truncated.message and "not looked at" in truncated.message
    assert evidence.series and not any(2.0 <= p.start_s < 4.0 for p in evidence.series)
