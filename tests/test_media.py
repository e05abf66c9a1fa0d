"""core.media: probing, classification, streaming decode and limits, on self-made files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import samples
from core.config import MediaLimits
from core.errors import MediaError, MediaLimitError, UnsupportedMediaError
from core.media import MediaKind, decode_audio, iter_audio, iter_frames, probe

LIMITS = MediaLimits()


def test_probe_classifies_image_video_audio(photo: Path, clip: Path, tone: Path) -> None:
    image = probe(photo, LIMITS)
    assert image.kind is MediaKind.IMAGE
    assert (image.width, image.height) == (512, 512)
    assert image.duration_s is None and image.audio is None

    video = probe(clip, LIMITS)
    assert video.kind is MediaKind.VIDEO
    assert video.video is not None and video.audio is not None
    assert video.video.codec == "h264" and video.video.fps == pytest.approx(25.0)
    assert video.video.frame_count == 50
    assert video.duration_s == pytest.approx(2.0, abs=0.1)
    assert video.audio.sample_rate == 16_000 and video.audio.channels == 1

    audio = probe(tone, LIMITS)
    assert audio.kind is MediaKind.AUDIO
    assert audio.video is None
    assert audio.duration_s == pytest.approx(1.0, abs=0.01)


def test_png_is_an_image(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "x.png"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(path)
    info = probe(path, LIMITS)
    assert info.kind is MediaKind.IMAGE and (info.width, info.height) == (40, 30)
    (frame,) = list(iter_frames(path))
    assert frame.rgb.shape == (30, 40, 3)
    assert tuple(frame.rgb[0, 0]) == (10, 200, 30)


def test_iter_frames_samples_at_requested_fps(clip: Path) -> None:
    frames = list(iter_frames(clip, fps=5))
    assert len(frames) == 10
    times = [f.time_s for f in frames]
    assert np.allclose(np.diff(times), 0.2, atol=0.041)
    assert all(f.rgb.shape == (240, 320, 3) and f.rgb.dtype == np.uint8 for f in frames)


def test_iter_frames_is_lazy_and_bounded(clip: Path) -> None:
    stream = iter_frames(clip)
    first = next(stream)
    assert first.index == 0
    stream.close()  # closes the container without decoding the rest
    assert len(list(iter_frames(clip, max_frames=3))) == 3


def test_iter_frames_shrinks_to_max_side(clip: Path) -> None:
    frame = next(iter(iter_frames(clip, max_side=160)))
    assert frame.rgb.shape == (120, 160, 3)


def test_decode_audio_resamples_to_requested_rate(clip: Path, tone: Path) -> None:
    wave = decode_audio(tone, sample_rate=8_000)
    assert wave.shape[0] == 1 and wave.dtype == np.float32
    assert wave.shape[1] == pytest.approx(8_000, abs=64)
    spectrum = np.abs(np.fft.rfft(wave[0]))
    peak_hz = np.argmax(spectrum) * 8_000 / wave.shape[1]
    assert peak_hz == pytest.approx(440, abs=5)
    # the clip's soundtrack (AAC in MP4) decodes too
    assert decode_audio(clip).shape[1] >= 32_000


def test_iter_audio_chunks_and_max_seconds(tone: Path) -> None:
    chunks = list(iter_audio(tone, sample_rate=16_000, chunk_s=0.25))
    assert [c.samples.shape[1] for c in chunks] == [4000, 4000, 4000, 4000]
    assert [c.start_s for c in chunks] == [0.0, 0.25, 0.5, 0.75]
    short = decode_audio(tone, max_s=0.5)
    assert short.shape[1] == 8000


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_16", "PCM_24", "PCM_U8"])
@pytest.mark.parametrize("channels", [9, 32])
def test_many_channel_audio_is_mixed_to_mono(tmp_path: Path, channels: int, subtype: str) -> None:
    """More than 8 channels of no named layout (microphone arrays, multitrack WAVs): FFmpeg's
    rematrix refuses some counts (9), so Verity takes the plain mean of the channels."""
    import soundfile

    rate = 16_000
    t = np.arange(rate) / rate
    wave = np.zeros((rate, channels))
    wave[:, 0] = 0.9 * np.sin(2 * np.pi * 440 * t)  # one speaking channel among silent ones
    path = tmp_path / f"array{channels}.wav"
    soundfile.write(path, wave, rate, subtype=subtype)
    mono = decode_audio(path, sample_rate=8_000)
    assert mono.shape == (1, 8_000)
    assert np.abs(mono).max() == pytest.approx(0.9 / channels, rel=0.05)
    peak_hz = np.argmax(np.abs(np.fft.rfft(mono[0]))) * 8_000 / mono.shape[1]
    assert peak_hz == pytest.approx(440, abs=5)
    with pytest.raises(UnsupportedMediaError, match=f"{channels} audio channels"):
        decode_audio(path, mono=False)


def test_many_channel_planar_audio_is_refused_not_read() -> None:
    """PyAV's reader crashes on planar frames of more than 8 planes: refused before reading."""
    from types import SimpleNamespace

    from core.media import _mono_mix

    frame = SimpleNamespace(
        format=SimpleNamespace(is_planar=True, name="fltp"),
        layout=SimpleNamespace(channels=[object()] * 10),
        to_ndarray=lambda: pytest.fail("a planar many-channel frame must not be read"),
    )
    with pytest.raises(UnsupportedMediaError, match="10-channel planar audio"):
        _mono_mix(Path("ten.ogg"), frame)


@pytest.mark.parametrize(
    ("maker", "error", "words"),
    [
        (lambda d: d / "missing.mp4", MediaError, "no such file"),
        (lambda d: d, MediaError, "directory"),
    ],
)
def test_probe_refuses_paths_that_are_not_files(tmp_path: Path, maker, error, words) -> None:
    with pytest.raises(error, match=words):
        probe(maker(tmp_path), LIMITS)


def test_probe_refuses_bad_files(
    tmp_path: Path, bomb_png: Path, truncated_mp4: Path, text_as_mp4: Path
) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe(empty, LIMITS)
    with pytest.raises(MediaLimitError, match="pixels"):
        probe(bomb_png, LIMITS)
    with pytest.raises(UnsupportedMediaError):
        probe(truncated_mp4, LIMITS)
    with pytest.raises(UnsupportedMediaError, match="not a video, audio or image"):
        probe(text_as_mp4, LIMITS)


def test_truncated_mp4_with_index_in_front_is_refused(tmp_path: Path, clip: Path) -> None:
    import av

    whole = tmp_path / "faststart.mp4"
    with (
        av.open(str(clip)) as src,
        av.open(str(whole), "w", options={"movflags": "faststart"}) as dst,
    ):
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            dst.mux(packet)
    assert probe(whole, LIMITS).kind is MediaKind.VIDEO
    cut = tmp_path / "faststart-cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    with pytest.raises(UnsupportedMediaError, match="truncated"):
        probe(cut, LIMITS)


def test_limits_are_enforced_before_decoding(photo: Path, clip: Path) -> None:
    with pytest.raises(MediaLimitError, match="bytes"):
        probe(photo, MediaLimits(max_file_bytes=1000))
    with pytest.raises(MediaLimitError, match="pixels"):
        probe(photo, MediaLimits(max_pixels=100 * 100))
    with pytest.raises(MediaLimitError, match="lasts"):
        probe(clip, MediaLimits(max_duration_s=1.0))


def test_video_without_audio_and_audio_errors(tmp_path: Path) -> None:
    silent = samples.write_clip(tmp_path / "silent.mp4", seconds=0.4, with_audio=False)
    info = probe(silent, LIMITS)
    assert info.kind is MediaKind.VIDEO and info.audio is None
    with pytest.raises(UnsupportedMediaError, match="no audio"):
        decode_audio(silent)
