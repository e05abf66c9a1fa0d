"""core.sound: decoding sound of any container to float arrays, mixing, the video's clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import UnsupportedMediaError
from core.sound import decode_audio, iter_audio
from tests.test_media import _clocked_clip


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

    from core.sound import _mono_mix

    frame = SimpleNamespace(
        format=SimpleNamespace(is_planar=True, name="fltp"),
        layout=SimpleNamespace(channels=[object()] * 10),
        to_ndarray=lambda: pytest.fail("a planar many-channel frame must not be read"),
    )
    with pytest.raises(UnsupportedMediaError, match="10-channel planar audio"):
        _mono_mix(Path("ten.ogg"), frame)


def test_sound_on_the_video_clock_keeps_a_late_track_late(tmp_path: Path) -> None:
    for fmt, suffix in (("mp4", "mp4"), ("mpegts", "ts")):
        path = _clocked_clip(tmp_path / f"late.{suffix}", fmt, 0.0, 0.25)
        clocked = decode_audio(path, max_s=5.0, on_video_clock=True)[0]
        heard = np.flatnonzero(np.abs(clocked) > 0.05)
        assert heard[0] / 16_000 == pytest.approx(0.25, abs=0.005)  # where a player plays it
        plain = decode_audio(path)[0]
        assert np.flatnonzero(np.abs(plain) > 0.05)[0] / 16_000 < 0.07  # the track's own start
    assert len(decode_audio(path, max_s=0.1, on_video_clock=True)[0]) == 1600  # bounded
    with pytest.raises(ValueError, match="max_s"):
        decode_audio(path, on_video_clock=True)


@pytest.mark.parametrize("fmt", ["matroska", "mpegts"])
def test_a_hole_in_the_soundtrack_stays_a_hole_on_the_video_clock(tmp_path: Path, fmt: str) -> None:
    """A dropout or a cut spliced without its sound: the frames after the hole keep their
    timestamps, and on the video clock they stay where a player plays them (0.3 s later)."""
    import av

    path = tmp_path / f"hole.{fmt}"
    tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)).astype(np.int16)
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("mp2", rate=16_000)
        audio.layout = "mono"
        for index in range(33):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 100, np.uint8), "rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for start in range(0, 16_000, 1152):
            chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1152], layout="mono")
            hole = 4800 if start >= 8064 else 0  # 0.3 s missing after 0.504 s of sound
            chunk.sample_rate, chunk.pts = 16_000, start + hole
            out.mux(audio.encode(chunk))
        out.mux(audio.encode())
    plain = decode_audio(path)[0]
    clocked = decode_audio(path, max_s=5.0, on_video_clock=True)[0]
    assert len(clocked) - len(plain) == pytest.approx(4800, abs=200)
    assert _longest_quiet(clocked) == pytest.approx(4800, abs=400)  # one silent 0.3 s
    assert np.abs(plain).max() > 0.1 and _longest_quiet(plain) < 800  # the plain track: no hole


def _longest_quiet(wave: np.ndarray) -> int:
    """Length of the longest run of samples below 0.01 (apart from the first and last 0.1 s)."""
    quiet = np.abs(wave[1600:-1600]) < 0.01
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(int), [0]])))
    return int(max(np.diff(edges)[::2], default=0))


def _bursts_clip(path: Path, fmt: str, clock_s: float, codec: str, rate: int) -> Path:
    """6 s of 25 fps grey frames and a soundtrack of 0.1-s tone bursts every 0.37 s, both tracks
    starting at ``clock_s`` on the file's clock."""
    import av

    t = np.arange(6 * rate) / rate
    sound = 0.3 * np.sin(2 * np.pi * 440 * t) * ((t % 0.37) < 0.1)
    pcm = (sound * 32767).astype(np.int16)
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream(codec, rate=rate)
        audio.layout = "mono"
        for index in range(150):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index, np.uint8), "rgb24")
            frame.pts = round(clock_s * 25) + index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for start in range(0, len(pcm), 1152):
            chunk = av.AudioFrame.from_ndarray(pcm[None, start : start + 1152], layout="mono")
            chunk.sample_rate, chunk.pts = rate, round(clock_s * rate) + start
            out.mux(audio.encode(chunk))
        out.mux(audio.encode())
    return path


@pytest.mark.parametrize(
    ("fmt", "suffix", "clock_s", "codec", "rate"),
    [("mp4", "mp4", 0.0, "aac", 44_100), ("mpegts", "ts", 3600.0, "mp2", 16_000)],
)
def test_sound_read_from_a_later_start_is_the_sound_there(
    tmp_path: Path, fmt: str, suffix: str, clock_s: float, codec: str, rate: int
) -> None:
    """Lip-sync reads passages of a long video's soundtrack from where they start (engine 0.2.2):
    what a read from 3.3 s gives is what a read from 0 s holds at 3.3 s (a seek that landed late
    or a decoder not warmed up would move or garble the bursts)."""
    path = _bursts_clip(tmp_path / f"bursts.{suffix}", fmt, clock_s, codec, rate)
    whole = decode_audio(path, max_s=6.0, on_video_clock=True)[0]
    for start in (0.04, 3.3):
        part = decode_audio(path, max_s=2.0, on_video_clock=True, start_s=start)[0]
        assert len(part) == 32_000
        there = whole[round(start * 16_000) : round(start * 16_000) + 32_000]
        assert np.abs(there).max() > 0.2 and np.abs(part - there).max() < 0.05
    past_the_end = decode_audio(path, max_s=2.0, on_video_clock=True, start_s=10.0)
    assert past_the_end.shape == (1, 0)
    with pytest.raises(ValueError, match="video clock"):
        decode_audio(path, start_s=1.0)


def test_encoded_wav_and_mp3_decode_back_to_the_sound(tmp_path: Path) -> None:
    """The two encoders lab fakes, sound attacks and codec normalisation write through: a WAV
    gives the samples back to 16-bit rounding, clipped to [-1, 1]; an MP3 the same tone."""
    from core.sound import encode_mp3, encode_wav

    t = np.arange(16_000) / 16_000
    wave = 0.5 * np.sin(2 * np.pi * 440 * t)
    wave[:100] = 1.7  # beyond full scale: clipped, not wrapped
    wav = tmp_path / "tone.wav"
    wav.write_bytes(encode_wav(wave, sample_rate=16_000))
    back = decode_audio(wav)[0]
    assert back.shape == (16_000,)
    assert np.abs(back[:100] - 32767 / 32768).max() < 1e-6
    assert np.abs(back[100:] - wave[100:]).max() < 1 / 16_000
    mp3 = tmp_path / "tone.mp3"
    mp3.write_bytes(encode_mp3(wave[100:], sample_rate=16_000, bit_rate=64_000))
    heard = decode_audio(mp3)[0]
    peak_hz = np.argmax(np.abs(np.fft.rfft(heard))) * 16_000 / len(heard)
    assert abs(len(heard) - 15_900) < 2_000 and peak_hz == pytest.approx(440, abs=5)
