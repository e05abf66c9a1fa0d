"""lipsync.av_offset on real talking-head video: a soundtrack shifted with PyAV is found to a frame.

The shifted clips are made here from a GRID clip of ../shared/train-corpus (present on the
development and CI machines; the test says so and skips elsewhere): the same pictures, the audio
delayed by 200 ms or advanced by 120 ms. The detector must report the shift within one frame of
the original clip's own measured offset.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from core import samples
from modalities.lipsync import av_offset, signals
from tests.modalities.lipsync_media import talking_clip
from tests.modalities.test_audio_lfcc_gmm import media

GRID = Path(__file__).resolve().parents[2].parent / "shared" / "train-corpus" / "video" / "grid"


def decoded(src: Path) -> tuple[Fraction, list[np.ndarray], np.ndarray]:
    """Frame rate, RGB pictures and 16 kHz mono s16 soundtrack of ``src``."""
    with av.open(str(src)) as container:
        rate = container.streams.video[0].average_rate
        pictures = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(src)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
        pcm = np.concatenate(
            [r.to_ndarray()[0] for f in container.decode(audio=0) for r in resampler.resample(f)]
        )
    return Fraction(rate), pictures, pcm


def shift_audio(src: Path, dst: Path, shift_s: float) -> Path:
    """Re-encode ``src`` with its soundtrack delayed by ``shift_s`` (negative: advanced)."""
    rate, pictures, pcm = decoded(src)
    n = round(abs(shift_s) * 16_000)
    pad = np.zeros(n, np.int16)
    pcm = np.concatenate([pad, pcm])[: len(pcm)] if shift_s > 0 else np.concatenate([pcm[n:], pad])
    return encode(dst, rate, pictures, pcm)


def encode(dst: Path, rate: Fraction, pictures: list[np.ndarray], pcm: np.ndarray) -> Path:
    """An MP4 of RGB ``pictures`` at ``rate`` (H.264) and 16 kHz mono s16 ``pcm`` (AAC)."""
    with av.open(str(dst), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height = pictures[0].shape[1], pictures[0].shape[0]
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=16_000)
        audio.layout = "mono"
        for picture in pictures:
            out.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(video.encode())
        mux_pcm(out, audio, pcm)
    return dst


def mux_pcm(out: Any, audio: Any, pcm: np.ndarray) -> None:
    """Encode 16 kHz mono s16 ``pcm`` into the ``audio`` stream of container ``out``."""
    for start in range(0, len(pcm), 1024):
        frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024], layout="mono")
        frame.sample_rate, frame.pts = 16_000, start
        out.mux(audio.encode(frame))
    out.mux(audio.encode())


@pytest.fixture(scope="module")
def grid_clip() -> Path:
    clip = GRID / "lrwp9a.mpg"
    if not clip.is_file():
        pytest.skip("../shared/train-corpus/video/grid is not on this machine")
    return clip


@pytest.mark.slow
def test_a_shifted_soundtrack_is_found_within_one_frame(grid_clip: Path, tmp_path: Path) -> None:
    detector = av_offset.AvOffsetDetector()
    offsets = {}
    for shift in (0.0, 0.2, -0.12):
        evidence = detector.analyze(media(shift_audio(grid_clip, tmp_path / f"{shift}.mp4", shift)))
        assert evidence.out_of_domain is None, evidence.out_of_domain
        codes = {f.code: f.value for f in evidence.findings}
        offsets[shift] = codes["av_offset_frames"]
        assert {a.kind for a in evidence.artifacts} == {"offset_curve", "sync_timeline"}
    for shift in (0.2, -0.12):
        assert abs(offsets[shift] - offsets[0.0] - shift * 25) <= 1, offsets
    in_sync = detector.analyze(media(shift_audio(grid_clip, tmp_path / "again.mp4", 0.0)))
    delayed = detector.analyze(media(tmp_path / "0.2.mp4"))
    assert delayed.raw_score > in_sync.raw_score and delayed.llr > in_sync.llr


def test_no_audio_or_no_face_is_out_of_domain(tmp_path: Path) -> None:
    detector = av_offset.AvOffsetDetector()
    silent = samples.write_clip(tmp_path / "silent.mp4", seconds=1.0, with_audio=False)
    assert detector.analyze(media(silent)).out_of_domain == "no audio track"
    cartoon = samples.write_clip(tmp_path / "cartoon.mp4", seconds=2.0)  # no real face in it
    evidence = detector.analyze(media(cartoon))
    assert evidence.out_of_domain in {
        "no face found",
        "no face track with at least 2 s of visible speech",
    }
    still = talking_clip(tmp_path / "still.mp4", seconds=3.0, still=True)
    assert detector.analyze(media(still)).out_of_domain == signals.STILL_MOUTH


def test_a_small_face_in_a_large_video_is_looked_at_again(tmp_path: Path) -> None:
    """Lip-sync tracks faces on 640-px frames: a 40-px face in a 720p video is named too small
    (it was "no face found"); a 70-px face in a 1080p video (23 px at 640) is tracked on frames
    of 1280 px."""
    detector = av_offset.AvOffsetDetector()
    small = talking_clip(tmp_path / "small.mp4", seconds=2.0, canvas=(1280, 720), face_side=40)
    tiny = detector.analyze(media(small))
    codes = {f.code: f.value for f in tiny.findings}
    assert tiny.out_of_domain == "only faces smaller than 64 px"
    assert codes["video_looked_again"] == 1280 and codes["largest_face_px"] < 64
    hd = talking_clip(tmp_path / "hd.mp4", seconds=2.0, canvas=(1920, 1080), face_side=70)
    tracked = detector.analyze(media(hd))
    codes = {f.code: f.value for f in tracked.findings}
    assert codes["video_looked_again"] == 1920 and codes["face_tracks"] >= 1
    assert tracked.out_of_domain != "no face found"


def retime(src: Path, dst: Path, shift_s: float, times: list[float]) -> Path:
    """``src`` re-encoded with frames shown at ``times`` (seconds; the picture on screen at that
    moment of the 25 fps original) and its soundtrack delayed by ``shift_s``."""
    rate, pictures, pcm = decoded(src)
    source_fps = float(rate)
    n = round(abs(shift_s) * 16_000)
    pcm = np.concatenate([np.zeros(n, np.int16), pcm])[: len(pcm)]
    with av.open(str(dst), "w") as out:
        video = out.add_stream("libx264", rate=max(1, round(len(times) / times[-1])))
        video.width, video.height = pictures[0].shape[1], pictures[0].shape[0]
        video.pix_fmt = "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)  # pts in ms
        video.codec_context.max_b_frames = 0  # no reordering: irregular pts stay muxable
        audio = out.add_stream("aac", rate=16_000)
        audio.layout = "mono"
        for t in times:
            frame = av.VideoFrame.from_ndarray(
                pictures[min(len(pictures) - 1, int(t * source_fps + 1e-6))], format="rgb24"
            )
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        mux_pcm(out, audio, pcm)
    return dst


def _frame_times(rate: str, seconds: float) -> list[float]:
    if rate == "vfr":  # a phone's variable rate: 30 fps with stretches at 20 and 15 fps
        times, t, step = [], 0.0, 0
        while t < seconds:
            times.append(t)
            t += (1 / 30, 1 / 30, 1 / 20, 1 / 15)[(step // 8) % 4]
            step += 1
        return times
    fps = float(rate)
    return [k / fps for k in range(int(seconds * fps))]


@pytest.mark.slow
@pytest.mark.parametrize("rate", ["24", "30", "60", "vfr"])
def test_the_offset_is_right_in_milliseconds_at_any_frame_rate(
    grid_clip: Path, tmp_path: Path, rate: str
) -> None:
    """24, 30 and 60 fps and a variable rate: a 200 ms delay is reported as 200 ms, within one
    frame of the rate the detector works at, relative to the same pictures in sync."""
    detector = av_offset.AvOffsetDetector()
    times = _frame_times(rate, 3.0)
    found = {}
    for shift in (0.0, 0.2):
        clip = retime(grid_clip, tmp_path / f"{rate}-{shift}.mp4", shift, times)
        evidence = detector.analyze(media(clip))
        assert evidence.out_of_domain is None, evidence.out_of_domain
        codes = {f.code: f.value for f in evidence.findings}
        found[shift] = (codes["av_offset_ms"], codes["fps"])
    fps = found[0.2][1]
    assert abs(found[0.2][0] - found[0.0][0] - 200.0) <= 1000.0 / fps + 1e-6, (rate, found)


def clocked(src: Path, dst: Path, fmt: str, video_start_s: float, audio_start_s: float) -> Path:
    """``src`` re-muxed with its tracks starting at the given times of the file's clock (no
    change to their content): a transport stream an hour into its clock, or a soundtrack that an
    edit list starts late."""
    rate, pictures, pcm = decoded(src)
    with av.open(str(dst), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height = pictures[0].shape[1], pictures[0].shape[0]
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac" if fmt == "mp4" else "mp2", rate=16_000)
        audio.layout = "mono"
        first = round(video_start_s * rate)
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = first + index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        offset = round(audio_start_s * 16_000)
        for start in range(0, len(pcm), 1152):
            chunk = av.AudioFrame.from_ndarray(pcm[None, start : start + 1152], layout="mono")
            chunk.sample_rate, chunk.pts = 16_000, offset + start
            out.mux(audio.encode(chunk))
        out.mux(audio.encode())
    return dst


@pytest.mark.slow
def test_sync_is_read_on_the_files_clock(grid_clip: Path, tmp_path: Path) -> None:
    """Picture and sound are compared where a player puts them. Before engine 0.2.1 the sound's
    sample 0 was taken as 0 s whatever its timestamps: a soundtrack started 200 ms late by an
    edit list read as in sync, and a transport stream whose clock starts an hour in had no face
    in the first 30 s (its frames were at 3600 s)."""
    detector = av_offset.AvOffsetDetector()

    def offset(path: Path) -> int:
        evidence = detector.analyze(media(path))
        assert evidence.out_of_domain is None, evidence.out_of_domain
        return int({f.code: f.value for f in evidence.findings}["av_offset_frames"])

    plain = offset(clocked(grid_clip, tmp_path / "plain.mp4", "mp4", 0.0, 0.0))
    assert abs(offset(clocked(grid_clip, tmp_path / "late.mp4", "mp4", 0.0, 0.2)) - plain - 5) <= 1
    assert abs(offset(clocked(grid_clip, tmp_path / "hour.ts", "mpegts", 3600, 3600)) - plain) <= 1
    late_ts = clocked(grid_clip, tmp_path / "late.ts", "mpegts", 3600, 3600.2)
    assert abs(offset(late_ts) - plain - 5) <= 1


def test_the_evidence_says_how_much_of_a_long_video_was_analysed(tmp_path: Path) -> None:
    from modalities.lipsync import syncnet

    clip = samples.write_clip(tmp_path / "long.mp4", seconds=33.0, fps=10, size=(96, 72))
    middle = samples.write_clip(tmp_path / "middle.mp4", seconds=25.0, fps=10, size=(96, 72))
    short = samples.write_clip(tmp_path / "short.mp4", seconds=2.0, fps=10, size=(96, 72))
    long = samples.write_clip(tmp_path / "longer.mp4", seconds=130.0, fps=2, size=(96, 72))
    for detector, limit in ((av_offset.AvOffsetDetector(), 30.0), (syncnet.build(), 20.0)):
        heard: list[tuple[float, str]] = []
        with (whole_clip := media(clip)).listening(lambda f, d, out=heard: out.append((f, d))):
            found = {f.code: f for f in detector.analyze(whole_clip).findings}["analysed_span_s"]
        assert heard == [(k / 4, f"passage {k + 1} of 4") for k in range(4)]  # its progress
        assert found.value == 33.0  # four consecutive passages, whichever detector
        assert found.message.startswith(
            "4 passages (0.0–8.2, 8.2–16.5, 16.5–24.8, 24.8–33.0 s), 33 s of 33.0 s analysed, "
            "every second (coverage spread)"
        )
        found = {f.code: f for f in detector.analyze(media(long)).findings}["analysed_span_s"]
        assert found.value == 120.0 and "12 passages (0.0–10.0, 10.9–20.9" in found.message
        assert "the rest was not looked at (coverage spread)" in found.message
        found = {f.code: f for f in detector.analyze(media(middle)).findings}["analysed_span_s"]
        assert found.value == pytest.approx(min(limit, 25.0), abs=0.1)
        assert ("rest" in found.message) == (limit < 25.0)
        found = {f.code: f for f in detector.analyze(media(short)).findings}["analysed_span_s"]
        assert found.value == pytest.approx(2.0, abs=0.1) and "rest" not in found.message
    for whole in (av_offset.build(coverage="whole"), syncnet.build(coverage="whole")):
        found = {f.code: f for f in whole.analyze(media(long)).findings}["analysed_span_s"]
        assert found.value == 130.0
        assert found.message.startswith("13 passages (13 consecutive, 0.0–130.0 s)")
        assert found.message.endswith("130 s of 130.0 s analysed, every second (coverage whole)")
    with pytest.raises(ValueError, match="unknown lip-sync coverage"):
        av_offset.build(coverage="most")


def spliced(dst: Path, seconds: float, shift_from_s: float, shift_s: float) -> Path:
    """GRID's talking heads one after another for ``seconds``, the soundtrack delayed by
    ``shift_s`` from ``shift_from_s`` on (silence inserted there): a long video whose later part
    is out of sync, as after a dub or a splice."""
    clips = sorted(GRID.glob("*.mpg"))
    if len(clips) < 3:
        pytest.skip("../shared/train-corpus/video/grid is not on this machine")
    rate, pictures, pcm = Fraction(25), [], np.zeros(0, np.int16)
    while len(pictures) < seconds * rate:
        for clip in clips:
            clip_rate, clip_pictures, clip_pcm = decoded(clip)
            assert clip_rate == rate
            n = min(len(clip_pictures), len(clip_pcm) * 25 // 16_000)  # whole frames of sound
            pictures += clip_pictures[:n]
            pcm = np.concatenate([pcm, clip_pcm[: n * 16_000 // 25]])
    pictures = pictures[: round(seconds * rate)]
    cut = round(shift_from_s * 16_000)
    pcm = np.concatenate([pcm[:cut], np.zeros(round(shift_s * 16_000), np.int16), pcm[cut:]])
    return encode(dst, rate, pictures, pcm[: len(pictures) * 16_000 // 25])


@pytest.mark.slow
def test_a_long_video_out_of_sync_late_is_caught_in_its_last_passage(tmp_path: Path) -> None:
    """A 62-s video in sync for its first 52 s, then 200 ms late: up to engine 0.2.1 both
    detectors read the first 30 s (in sync); now they read it whole, in seven consecutive
    passages of 8.9 s (0–8.9, …, 53.1–62 s), and the last one, out of sync, decides."""
    from modalities.lipsync import syncnet

    clip = spliced(tmp_path / "spliced.mp4", seconds=62.0, shift_from_s=52.0, shift_s=0.2)
    for detector in (av_offset.AvOffsetDetector(), syncnet.build()):
        evidence = detector.analyze(media(clip))
        assert evidence.out_of_domain is None, evidence.out_of_domain
        codes = {f.code: f for f in evidence.findings}
        assert codes["passages"].value == 7
        assert "worst of 7 passages, 53.1–62.0 s" in evidence.summary
        assert abs(float(codes["av_offset_ms"].value) - 200) <= 40 + 1e-6, evidence.summary
        per_passage = codes["passages"].message.split("; ")
        assert len(per_passage) == 7 and per_passage[0].startswith(
            "passages with visible speech (the worst decides): 0.0–"
        )
        for early in per_passage[:5]:  # every passage before the splice is in sync
            assert abs(float(early.split(": ")[-1].split(" ms")[0])) <= 40 + 1e-6, per_passage
        times = [(p.start_s, p.end_s) for p in evidence.series]
        assert min(t[0] for t in times) < 9 and max(t[1] for t in times) > 53
