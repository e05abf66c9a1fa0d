"""The same file gives the same pixels and samples whatever the CPU: frames, written pictures and
decoded sound do not depend on the instruction set FFmpeg's vector code was chosen for.

Each check runs in a fresh process with FFmpeg's CPU flags forced (``av_force_cpu_flags`` in the
libavutil PyAV ships), as a computer with only that instruction set would run it: ``auto`` is this
machine's own choice, ``0x1b`` stops at SSE2 and ``0x0`` is plain C. With PyAV's default
conversion the RGB frames of a 4:2:0 video differed between this machine's level and SSE2 (see
core/frames.py), and with FFmpeg's float AAC decoder and resampler the 16 kHz sound of a video
differed between AVX2 and SSE4.2 (core/decoding.py); here they must be identical.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from core.frames import encoder_frame

LEVELS = ("auto", "0x3db", "0x1b", "0x0")

CHILD = r"""
import ctypes, hashlib, json, sys
from pathlib import Path
import numpy as np
libavutil, level, video, sound = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
if level != "auto":
    ctypes.CDLL(libavutil).av_force_cpu_flags(int(level, 0))
from core import media
from core.sound import decode_audio
from core.frames import encoder_frame

frames = list(media.iter_frames(video))
shrunk = list(media.iter_frames(video, max_side=64))
rng = np.random.default_rng(3)
picture = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
planes = encoder_frame(picture).to_ndarray().tobytes()  # bytes(plane) holds row padding too
print(json.dumps({
    "frames": hashlib.sha256(b"".join(f.rgb.tobytes() for f in frames)).hexdigest(),
    "shrunk": hashlib.sha256(b"".join(f.rgb.tobytes() for f in shrunk)).hexdigest(),
    "encoder_frame": hashlib.sha256(planes).hexdigest(),
    "n": len(frames),
    "aac_16k": hashlib.sha256(decode_audio(video).tobytes()).hexdigest(),
    "aac_late": hashlib.sha256(
        decode_audio(video, on_video_clock=True, start_s=0.4, max_s=0.3).tobytes()
    ).hexdigest(),
    "wav_16k": hashlib.sha256(decode_audio(sound).tobytes()).hexdigest(),
}))
"""


def _libavutil() -> Path:
    libs = Path(av.__file__).resolve().parent.parent / "av.libs"
    found = sorted(libs.glob("libavutil-*.so*"))
    if not found:
        pytest.skip("PyAV without its bundled FFmpeg: CPU flags cannot be forced")
    ctypes.CDLL(str(found[0])).av_force_cpu_flags  # noqa: B018 - the symbol must exist
    return found[0]


def _colourful_clip(path: Path) -> Path:
    """A 4:2:0 H.264 clip whose colours change from pixel to pixel (what the fast converter
    rounds differently), with a 44.1 kHz stereo AAC soundtrack of tones and noise."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:72, 0:128]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 128, 72, "yuv420p"
        stream.options = {"crf": "12"}
        audio = container.add_stream("aac", rate=44100)
        audio.layout = "stereo"
        for k in range(4):
            rgb = np.stack([(x * 2 + k * 9) % 256, (y * 3 + x) % 256, (255 - x - y) % 256], -1)
            rgb = np.clip(rgb + rng.normal(0, 25, rgb.shape), 0, 255).astype(np.uint8)
            for packet in stream.encode(encoder_frame(rgb)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        wave = _stereo(44100, 1.0)
        for start in range(0, wave.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(wave[:, start : start + 1024]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = 44100, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


def _stereo(rate: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(round(rate * seconds)) / rate
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.normal(size=t.size)
    right = 0.2 * np.sin(2 * np.pi * 331 * t) + 0.05 * rng.normal(size=t.size)
    return np.stack([left, right]).astype(np.float32)


def _wav(path: Path) -> Path:
    """A 44.1 kHz stereo WAV: only the resampler and the down-mix act on it."""
    import soundfile

    soundfile.write(path, _stereo(44100, 1.5).T, 44100, subtype="PCM_16")
    return path


def test_frames_pictures_and_sound_are_identical_at_every_instruction_set_level(
    tmp_path: Path,
) -> None:
    libavutil = _libavutil()
    video = _colourful_clip(tmp_path / "colours.mp4")
    sound = _wav(tmp_path / "tones.wav")
    root = Path(__file__).resolve().parent.parent
    seen = {}
    for level in LEVELS:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(libavutil), level, str(video), str(sound)],
            capture_output=True, text=True, cwd=root, timeout=120,
            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-1500:]
        seen[level] = json.loads(done.stdout)
    assert seen["auto"]["n"] == 4
    for level in LEVELS[1:]:
        assert seen[level] == seen["auto"], f"{level} differs from this CPU's own level"


def test_the_default_conversion_does_depend_on_the_instruction_set(tmp_path: Path) -> None:
    """The control: without core.frames.EXACT the same frames differ between levels on a CPU
    with SSSE3, so the test above would catch a return to the default conversion."""
    libavutil = _libavutil()
    video = _colourful_clip(tmp_path / "colours.mp4")
    child = (
        "import ctypes, hashlib, sys, av\n"
        "if sys.argv[2] != 'auto':\n"
        "    ctypes.CDLL(sys.argv[1]).av_force_cpu_flags(int(sys.argv[2], 0))\n"
        "with av.open(sys.argv[3]) as c:\n"
        "    data = b''.join(f.to_ndarray(format='rgb24').tobytes() for f in c.decode(video=0))\n"
        "print(hashlib.sha256(data).hexdigest())\n"
    )
    digests = {}
    for level in ("auto", "0x1b"):
        done = subprocess.run(
            [sys.executable, "-c", child, str(libavutil), level, str(video)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-1500:]
        digests[level] = done.stdout.strip()
    flags = ctypes.CDLL(str(libavutil))
    flags.av_get_cpu_flags.restype = ctypes.c_int
    if not flags.av_get_cpu_flags() & 0x80:  # AV_CPU_FLAG_SSSE3: no fast path to differ from
        pytest.skip("this CPU has no SSSE3: both levels run the same code")
    assert digests["auto"] != digests["0x1b"]
