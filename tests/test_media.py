"""core.media: probing, classification, streaming decode and limits, on self-made files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core import samples
from core.config import MediaLimits
from core.errors import MediaError, MediaLimitError, UnsupportedMediaError
from core.media import MediaKind, iter_frames, probe
from core.sound import decode_audio

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
    # past Pillow's own ceiling too: the message still names the configured limit
    with pytest.raises(
        MediaLimitError,
        match=f"claims 10000000000 pixels, over the limit of {LIMITS.max_pixels} pixels",
    ):
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


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "TIFF", "BMP"])
def test_truncated_still_picture_is_refused(tmp_path: Path, fmt: str) -> None:
    """FFmpeg decodes the top half of a cut JPEG over grey; a verdict on it would be on a picture
    nobody saw, so a picture whose data ends early is refused."""
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 255, (160, 200, 3), dtype=np.uint8)
    whole = tmp_path / f"whole.{fmt.lower()}"
    Image.fromarray(pixels).save(whole, fmt)
    assert probe(whole, LIMITS).kind is MediaKind.IMAGE
    cut = tmp_path / f"cut.{fmt.lower()}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UnsupportedMediaError, match="truncated"):
        probe(cut, LIMITS)


def test_truncated_wav_is_refused_though_ffmpeg_shortens_it(tmp_path: Path, tone: Path) -> None:
    data = tone.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(UnsupportedMediaError, match=r"truncated: the WAV header lists \d+ bytes"):
        probe(cut, LIMITS)
    streamed = tmp_path / "streamed.wav"  # a streaming writer's placeholder size is not a cut
    head = bytearray(data)
    data_at = head.index(b"data")
    head[data_at + 4 : data_at + 8] = b"\xff\xff\xff\xff"
    streamed.write_bytes(bytes(head))
    assert probe(streamed, LIMITS).kind is MediaKind.AUDIO


def _page_ends(data: bytes) -> list[int]:
    """Byte offsets at which each Ogg page of ``data`` ends."""
    ends, offset = [], 0
    while offset < len(data):
        segments = data[offset + 26]
        offset += 27 + segments + sum(data[offset + 27 : offset + 27 + segments])
        ends.append(offset)
    return ends


@pytest.mark.parametrize("codec", ["vorbis", "opus"])
def test_truncated_ogg_is_refused_though_ffmpeg_reads_its_length_from_the_last_page(
    tmp_path: Path, codec: str
) -> None:
    import soundfile

    whole = tmp_path / f"whole-{codec}.ogg"
    t = np.arange(3 * 48_000) / 48_000
    soundfile.write(
        whole, 0.2 * np.sin(2 * np.pi * 220 * t), 48_000, format="OGG", subtype=codec.upper()
    )
    assert probe(whole, LIMITS).duration_s == pytest.approx(3.0, abs=0.05)
    data = whole.read_bytes()
    mid_page = tmp_path / "mid-page.ogg"
    mid_page.write_bytes(data[: len(data) // 2 + 1])
    with pytest.raises(UnsupportedMediaError, match="truncated: the last Ogg page needs"):
        probe(mid_page, LIMITS)
    ends = _page_ends(data)
    on_a_page = tmp_path / "on-a-page.ogg"  # cut between pages: every page whole, no last one
    on_a_page.write_bytes(data[: ends[len(ends) // 2]])
    with pytest.raises(UnsupportedMediaError, match="the Ogg stream never ends"):
        probe(on_a_page, LIMITS)


def test_truncated_matroska_is_refused(tmp_path: Path) -> None:
    """Matroska keeps the duration its header states while the packets stop half way."""
    import av

    whole = tmp_path / "whole.mkv"
    rng = np.random.default_rng(1)
    with av.open(str(whole), "w", format="matroska") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(75):
            pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    info = probe(whole, LIMITS)
    assert info.kind is MediaKind.VIDEO and info.video is not None
    assert info.video.frame_count is None  # no frame count: the time check is what applies
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(UnsupportedMediaError, match=r"truncated: the header says 3\.0 s"):
        probe(cut, LIMITS)


def test_layouts_ffmpeg_cannot_size_are_named(tmp_path: Path) -> None:
    from PIL import Image

    pixels = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    picture = Image.fromarray(pixels)
    animated = tmp_path / "anim.webp"
    picture.save(animated, save_all=True, append_images=[picture.rotate(10)], duration=100)
    with pytest.raises(UnsupportedMediaError, match=r"\(animated WebP is not supported\)"):
        probe(animated, LIMITS)
    floats = tmp_path / "f32.tif"
    Image.fromarray(np.full((64, 64), 0.5, np.float32), mode="F").save(floats)
    with pytest.raises(UnsupportedMediaError, match=r"TIFF with floating-point.*convert it to PNG"):
        probe(floats, LIMITS)


def test_formats_without_a_decoder_get_one_clear_line(tmp_path: Path) -> None:
    svg = tmp_path / "drawing.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    with pytest.raises(UnsupportedMediaError, match="no decoder for its pictures"):
        probe(svg, LIMITS)


@pytest.mark.parametrize("suffix", ["ico", "avif"])
def test_icons_and_avif_photos_are_still_images(tmp_path: Path, suffix: str) -> None:
    """An AVIF photo is an ISO media file (FFmpeg's "mov" demuxer) with one AV1 frame: a picture,
    not a video without sound."""
    from PIL import Image, features

    if suffix == "avif" and not features.check("avif"):
        pytest.skip("this Pillow cannot write AVIF")
    picture = tmp_path / f"x.{suffix}"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(picture)  # an icon: 16 to 64 px versions
    info = probe(picture, LIMITS)
    assert info.kind is MediaKind.IMAGE and info.duration_s is None
    (frame,) = list(iter_frames(picture))
    assert frame.rgb.shape[:2] == (64, 64)  # the largest version of an icon


def test_frames_come_upright_as_a_viewer_sees_them(tmp_path: Path) -> None:
    """A camera JPEG's EXIF orientation and a phone video's display rotation are applied, so
    detectors, face boxes and heatmaps describe the picture the analyst looks at."""
    import av
    from PIL import Image

    stored = np.zeros((40, 60, 3), dtype=np.uint8)
    stored[:10, :20] = 255  # a white block at the stored picture's top left
    jpeg = tmp_path / "portrait.jpg"
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    image.save(jpeg, quality=95, exif=exif)
    info = probe(jpeg, LIMITS)
    assert info.video is not None and info.video.display_rotation == 270
    assert (info.width, info.height) == (60, 40)  # as stored
    (frame,) = list(iter_frames(jpeg))
    assert frame.rgb.shape == (60, 40, 3)
    expected = np.rot90(stored, k=-1)  # clockwise: the block goes to the top right
    assert np.abs(frame.rgb.astype(int) - expected.astype(int)).mean() < 8
    assert frame.rgb[:20, 30:].mean() > 200 and frame.rgb[40:, :10].mean() < 50

    video = tmp_path / "phone.mp4"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(90)
        pixels = np.zeros((48, 64, 3), dtype=np.uint8)
        pixels[:12, :16] = 255
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    video_info = probe(video, LIMITS).video
    assert video_info is not None and video_info.display_rotation == 90
    first = next(iter_frames(video))
    assert first.rgb.shape == (64, 48, 3)
    # 90° counter-clockwise: the stored top-left block ends at the bottom left
    assert first.rgb[52:, :12].mean() > 200 and first.rgb[:12, :12].mean() < 50


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_shown_as_pillow_shows_it(tmp_path: Path, orientation) -> None:
    """The four mirrored orientations (2, 4, 5, 7) included, which a rotation cannot express."""
    from PIL import Image, ImageOps

    stored = np.zeros((40, 60, 3), dtype=np.uint8)
    stored[:10, :20] = 255
    stored[30:, 50:, 0] = 255
    path = tmp_path / f"o{orientation}.jpg"
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(path, quality=95, exif=exif)
    with Image.open(path) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"), dtype=int)
    (frame,) = list(iter_frames(path))
    assert frame.rgb.shape == expected.shape
    assert np.abs(frame.rgb.astype(int) - expected).mean() < 8
    info = probe(path, LIMITS).video
    assert info is not None
    assert info.display_mirrored == (orientation in (2, 4, 5, 7))
    assert (
        info.display_rotation
        == {1: 0, 2: 0, 3: 180, 4: 180, 5: 90, 6: 270, 7: 270, 8: 90}[orientation]
    )


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


def _program_stream(path: Path, frames: int = 100) -> Path:
    """An MPEG-2 program stream (no index: FFmpeg seeks in it by bytes, and overshoots)."""
    import av

    yy, xx = np.mgrid[0:120, 0:160]
    with av.open(str(path), "w", format="mpeg") as container:
        stream = container.add_stream("mpeg2video", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options, stream.bit_rate = {"g": "12"}, 800_000
        for i in range(frames):
            rgb = np.stack([(xx + 3 * i) % 256, (2 * yy + i) % 256, (xx + yy + 5 * i) % 256], -1)
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _same_frames_as_a_whole_pass(path: Path, starts: list[float]) -> None:
    from core.media import frame_at

    whole = {round(f.time_s, 4): f.rgb for f in iter_frames(path)}
    for start in starts:
        part = list(iter_frames(path, start_s=start))
        assert [round(f.time_s, 4) for f in part] == [t for t in whole if t + 1e-6 >= start]
        for frame in part[:3] + part[-2:]:
            assert np.array_equal(frame.rgb, whole[round(frame.time_s, 4)])
        shown = frame_at(path, start)
        assert shown is not None
        before = [t for t in whole if t <= start + 1e-6]
        assert np.array_equal(shown[1], whole[before[-1] if before else min(whole)])


def test_seeking_into_a_program_stream_drops_no_frame(tmp_path: Path) -> None:
    """FFmpeg's byte seek in a program stream lands up to half a second *after* the time asked
    for; a span or burst starting there silently lost those frames until the seek was checked."""
    import av

    path = _program_stream(tmp_path / "ps.mpg")
    with av.open(str(path)) as container:  # the file does show the overshoot being guarded
        stream = container.streams.video[0]
        container.seek(int(1.5 / stream.time_base), stream=stream, backward=True, any_frame=False)
        assert float(next(container.decode(stream)).time) > 1.5 + 0.1
    _same_frames_as_a_whole_pass(path, [1.5, 2.3, 3.1])


MEDIA_DEV = Path(__file__).resolve().parents[2] / "shared" / "media-dev"
FFPP_444 = MEDIA_DEV / (
    "video_faceswap/polimi-ispl__test__data__ffpp__original_sequences__youtube__c23__videos__519.mp4"
)


@pytest.mark.skipif(not FFPP_444.is_file(), reason="media-dev not present")
def test_seeking_into_an_old_x264_444_video_keeps_the_picture() -> None:
    """FaceForensics++ c23 videos are H.264 4:4:4 by x264 core 148: FFmpeg decodes them right only
    once it has read the encoder's build from the first frame's SEI. A decoder started at the IDR
    frame at 10 s made green noise of everything after it (faces lost in every later span)."""
    _same_frames_as_a_whole_pass(FFPP_444, [13.5, 25.0])


def _clocked_clip(path: Path, fmt: str, video_start_s: float, audio_start_s: float) -> Path:
    """1 s of 25 fps numbered grey frames and a 16 kHz tone, each track starting at the given
    time of the file's clock."""
    import av

    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac" if fmt == "mp4" else "mp2", rate=16_000)
        audio.layout = "mono"
        for index in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * index, np.uint8), "rgb24")
            frame.pts = round(video_start_s * 25) + index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)).astype(np.int16)
        for start in range(0, 16_000, 1152):
            chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1152], layout="mono")
            chunk.sample_rate, chunk.pts = 16_000, round(audio_start_s * 16_000) + start
            out.mux(audio.encode(chunk))
        out.mux(audio.encode())
    return path


def test_times_count_from_the_files_clock_start(tmp_path: Path) -> None:
    """A transport stream an hour into its clock: frames at 0 s, 0.04 s… as a player shows them,
    spans and the frame at a position on the same clock, its sound from 0 s on that clock."""
    from core.media import frame_at

    path = _clocked_clip(tmp_path / "hour.ts", "mpegts", 3600.0, 3600.0)
    times = [f.time_s for f in iter_frames(path)]
    assert len(times) == 25 and 0.0 <= times[0] < 0.05  # (the mp2 sound starts a little earlier)
    span = [f.time_s for f in iter_frames(path, start_s=0.5, end_s=0.6)]
    assert span == [t for t in times if 0.5 - 1e-6 <= t < 0.6 - 1e-6] and len(span) >= 2
    shown = frame_at(path, 0.5)
    assert shown is not None and shown[0] == max(t for t in times if t <= 0.5 + 1e-6)
    sound = decode_audio(path, max_s=2.0, on_video_clock=True)[0]
    assert 0.9 < len(sound) / 16_000 < 1.1 and np.abs(sound[:800]).max() > 0.1


def woven_clip(path: Path, interlaced: bool, size: tuple[int, int] = (128, 96)) -> Path:
    """Frames whose even rows show one instant (dark) and odd rows the next (light), as a
    fast-moving interlaced camera weaves them; coded interlaced or as progressive pictures."""
    import av

    width, height = size
    rows = np.where(np.arange(height)[:, None, None] % 2 == 0, 40, 200).astype(np.uint8)
    picture = np.ascontiguousarray(np.broadcast_to(rows, (height, width, 3)))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "10", "x264-params": "interlaced=1:tff=1" if interlaced else ""}
        for _ in range(5):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode())
    return path


def test_interlaced_frames_are_seen_one_field_at_a_time(tmp_path: Path) -> None:
    from core.media import frame_at

    woven = woven_clip(tmp_path / "woven.mp4", interlaced=True)
    info = probe(woven, LIMITS)
    assert info.video is not None and info.video.interlaced
    for rgb in [f.rgb for f in iter_frames(woven)] + [frame_at(woven, 0.1)[1]]:  # type: ignore[index]
        assert rgb.shape == (96, 128, 3)
        assert np.abs(np.diff(rgb[10:80, 10:110, 1].astype(int), axis=0)).mean() < 8  # no combs
        assert rgb[10:80].mean() < 80  # the top (dark) field
    progressive = woven_clip(tmp_path / "stripes.mp4", interlaced=False)
    info = probe(progressive, LIMITS)
    assert info.video is not None and not info.video.interlaced
    rgb = next(iter_frames(progressive)).rgb  # a progressive picture is left as it is
    assert np.abs(np.diff(rgb[10:80, 10:110, 1].astype(int), axis=0)).mean() > 100
    small = next(iter_frames(woven, max_side=64)).rgb
    assert small.shape == (48, 64, 3) and small[5:40].mean() < 80


@pytest.mark.parametrize("transfer", ["pq", "hlg"])
def test_hdr_video_is_seen_as_its_sdr_picture(tmp_path: Path, transfer: str) -> None:
    """A phone's HDR video decoded as plain 8-bit RGB is flat, dim and desaturated (PQ / HLG
    and BT.2020 read as BT.709); the detectors get the SDR picture a viewer is shown."""
    import av
    from skimage import data

    picture = np.ascontiguousarray(data.astronaut()[::2, ::2])  # type: ignore[no-untyped-call]
    path = samples.write_hdr_clip(tmp_path / f"{transfer}.mkv", [picture] * 3, transfer)
    info = probe(path, LIMITS)
    assert info.video is not None and info.video.hdr == transfer
    seen = next(iter_frames(path)).rgb.astype(int)
    assert np.abs(seen - picture).mean() < 3.0
    with av.open(str(path)) as container:  # what an 8-bit decode without tone mapping gives
        naive = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.abs(naive - picture).mean() > 10.0
    assert probe(samples.write_clip(tmp_path / "sdr.mp4"), LIMITS).video.hdr is None  # type: ignore[union-attr]


def test_an_interlaced_hdr_frame_gives_its_top_field_in_sdr(tmp_path: Path) -> None:
    import av
    from skimage import data

    from core.frames import frame_rgb

    picture = np.ascontiguousarray(data.astronaut()[::2, ::2])  # type: ignore[no-untyped-call]
    picture[1::2] = 255 - picture[1::2]  # the second field: another picture altogether
    path = samples.write_hdr_clip(tmp_path / "hlg.mkv", [picture], "hlg")

    class Interlaced:  # the decoded frame, flagged as a 1080i broadcast's would be
        interlaced_frame = True

        def __init__(self, frame: object) -> None:
            self._frame = frame

        def __getattr__(self, name: str) -> object:
            return getattr(self._frame, name)

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        seen = frame_rgb(Interlaced(frame), max_side=128).astype(int)
    luma = seen.mean(axis=2)  # (chroma is shared by both fields in 4:2:0)
    top = np.repeat(picture[0::2], 2, axis=0)[::2, ::2].mean(axis=2)  # the top field, 128 px
    woven = ((picture[0::2].astype(float) + picture[1::2]) / 2)[:, ::2].mean(axis=2)  # both
    assert seen.shape == (128, 128, 3) and np.abs(luma - top).mean() < 8.0
    assert np.abs(luma - woven).mean() > 30.0
