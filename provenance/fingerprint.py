"""Perceptual fingerprints for near-copy lookup, so a re-encode, resize, crop or trim of registered
media is still found.

Images: pHash (ImageHash library, maintained, BSD-2) of the whole picture and of cropped windows of
it, so a crop of 10% from a side or around the centre still meets one of them. Videos: the pHash of
one frame per second (up to ``MAX_FRAMES``), matched with the best temporal offset, so a trimmed
clip aligns with the part of the original it came from. Audio: a Haitsma-Kalker style fingerprint,
32 bits per 64 ms frame from the signs of energy differences between 33 log-spaced bands (300–3000
Hz) across time, matched by bit error rate at the best offset; it survives lossy re-encoding and
trimming.

Frames that carry no picture or sound (black or flat video frames, digital silence) hash the same
in every file, so they are left out of every comparison: an opening on black or a second of silence
in common is not a copy.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from PIL import Image

from core.media import MediaKind, iter_frames
from core.sound import decode_audio

MAX_FRAMES = 120
# a pHash sets the bits of the 64 low DCT coefficients above their median: about half of them in
# any picture with content, none or only the DC bit in a black or flat frame
MIN_PICTURE_BITS = 8
IMAGE_MATCH_BITS = 12  # of 64: above this two pictures are not treated as copies
VIDEO_MATCH_BITS = 12
MIN_ALIGNED_FRAMES = 3
AUDIO_RATE = 8_000
AUDIO_HOP = 512  # 64 ms
AUDIO_WINDOW = 2048
AUDIO_SECONDS = 60.0
MIN_AUDIO_FRAMES = 16  # about one second
AUDIO_MATCH_BER = 0.30  # share of differing bits; unrelated audio sits near 0.5


# Windows (fractions of width and height) whose hashes are kept: the whole picture, crops of 10%
# from each side, and centred crops, so common crops of registered pictures still match.
WINDOWS = (
    (0.0, 0.0, 1.0, 1.0),
    (0.1, 0.0, 1.0, 1.0),
    (0.0, 0.0, 0.9, 1.0),
    (0.0, 0.1, 1.0, 1.0),
    (0.0, 0.0, 1.0, 0.9),
    (0.05, 0.05, 0.95, 0.95),
    (0.1, 0.1, 0.9, 0.9),
)


def _window_hashes(rgb: np.ndarray) -> list[str]:
    image = Image.fromarray(rgb)
    h, w = rgb.shape[:2]
    return [
        str(imagehash.phash(image.crop((int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h)))))
        for x0, y0, x1, y1 in WINDOWS
    ]


def fingerprint(path: Path, kind: MediaKind, *, query: bool = False) -> dict[str, Any] | None:
    """The fingerprint stored in a registration record, or None for kinds without one.

    ``query=True`` adds audio fingerprints taken at sub-frame shifts, so a trim that does not fall
    on a frame boundary still lines up with the stored frames.
    """
    if kind is MediaKind.IMAGE:
        frame = next(iter(iter_frames(path, max_frames=1)))
        return {
            "type": "image-phash-v1",
            "windows": _window_hashes(frame.rgb),
            "dhash": str(imagehash.dhash(Image.fromarray(frame.rgb))),
        }
    if kind is MediaKind.AUDIO:
        wave = decode_audio(path, sample_rate=AUDIO_RATE, max_s=AUDIO_SECONDS)[0]
        words = audio_bits(wave)
        if len(words) < MIN_AUDIO_FRAMES:
            return None
        result: dict[str, Any] = {
            "type": "audio-hk-v1",
            "hop_s": AUDIO_HOP / AUDIO_RATE,
            "frames": _hex(words),
        }
        if query:
            shifts = range(AUDIO_HOP // 4, AUDIO_HOP, AUDIO_HOP // 4)
            result["shifted"] = [_hex(audio_bits(wave[shift:])) for shift in shifts]
        return result
    if kind is MediaKind.VIDEO:
        frames = [
            str(imagehash.phash(Image.fromarray(f.rgb)))
            for f in iter_frames(path, fps=1.0, max_frames=MAX_FRAMES, max_side=512)
        ]
        return {"type": "video-phash-seq-v1", "fps": 1.0, "frames": frames} if frames else None
    return None


def audio_bits(wave: np.ndarray) -> np.ndarray:
    """One 32-bit word per frame (uint32 array)."""
    if len(wave) < AUDIO_WINDOW + AUDIO_HOP:
        return np.zeros(0, dtype=np.uint32)
    n = 1 + (len(wave) - AUDIO_WINDOW) // AUDIO_HOP
    idx = np.arange(AUDIO_WINDOW)[None, :] + AUDIO_HOP * np.arange(n)[:, None]
    spectrum = np.abs(np.fft.rfft(wave[idx] * np.hanning(AUDIO_WINDOW), axis=1)) ** 2
    freqs = np.fft.rfftfreq(AUDIO_WINDOW, 1 / AUDIO_RATE)
    edges = np.geomspace(300, 3000, 34)
    bands = np.stack(
        [
            spectrum[:, (freqs >= lo) & (freqs < hi)].sum(axis=1)
            for lo, hi in itertools.pairwise(edges)
        ],
        axis=1,
    )
    energy = np.log(bands + 1e-10)
    diff = energy[:, :-1] - energy[:, 1:]  # (n, 32)
    bits = (diff[1:] - diff[:-1]) > 0  # (n-1, 32)
    weights = (1 << np.arange(32, dtype=np.uint64)).astype(np.uint64)
    return np.asarray((bits.astype(np.uint64) * weights).sum(axis=1), dtype=np.uint32)


def _hex(words: np.ndarray) -> list[str]:
    return [f"{int(v):08x}" for v in words]


def _audio_ber(query: list[str], stored: list[str]) -> tuple[float, int] | None:
    """The least bit error rate over offsets, and how many frames it compared there."""
    q = np.array([int(h, 16) for h in query], dtype=np.uint32)
    s = np.array([int(h, 16) for h in stored], dtype=np.uint32)
    # digital silence makes the all-zero word in every file: it is not compared
    q_sound, s_sound = q != 0, s != 0
    need = min(MIN_AUDIO_FRAMES, int(q_sound.sum()), int(s_sound.sum()))
    if need == 0:
        return None
    best: tuple[float, int] | None = None
    for offset in range(-(len(q) - 1), len(s)):
        lo, hi = max(0, -offset), min(len(q), len(s) - offset)
        both = q_sound[lo:hi] & s_sound[lo + offset : hi + offset]
        compared = int(both.sum())
        if compared < need:
            continue
        xor = np.bitwise_xor(q[lo:hi][both], s[lo + offset : hi + offset][both])
        ber = float(np.unpackbits(xor.view(np.uint8)).mean())
        if best is None or ber < best[0]:
            best = (ber, compared)
    return best


def _bits(a: str, b: str) -> int:
    return int(imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b))


def distance(query: dict[str, Any], stored: dict[str, Any]) -> float | None:
    """Hamming distance in bits (lower is closer), or None when the two cannot be compared."""
    compared = compare(query, stored)
    return None if compared is None else compared[0]


def compare(query: dict[str, Any], stored: dict[str, Any]) -> tuple[float, float | None] | None:
    """The distance (as :func:`distance`) and the seconds the two have in common where it was
    measured (None for pictures), or None when the two cannot be compared. A match may rest on
    a second of sound or three frames: a shared jingle or intro, not the whole file, so the
    time in common is said beside the distance."""
    if query.get("type") != stored.get("type"):
        return None
    if query["type"] == "image-phash-v1":
        # the query as it is against every stored window, and the other way round
        pairs = [(query["windows"][0], w) for w in stored["windows"]]
        pairs += [(w, stored["windows"][0]) for w in query["windows"]]
        return float(min(_bits(x, y) for x, y in pairs)), None
    if query["type"] == "audio-hk-v1":
        rates = [
            _audio_ber(frames, stored["frames"])
            for frames in [query["frames"], *query.get("shifted", [])]
        ]
        known = [r for r in rates if r is not None]
        if not known:
            return None
        ber, frames = min(known, key=lambda r: r[0])
        return ber, round(frames * float(stored.get("hop_s", AUDIO_HOP / AUDIO_RATE)), 2)
    if query["type"] == "video-phash-seq-v1":
        found = _video_distance(query["frames"], stored["frames"])
        if found is None:
            return None
        bits, frames = found
        return bits, round(frames / float(stored.get("fps", 1.0)), 2)
    return None


def _has_picture(frame_hash: str) -> bool:
    """False for a black or flat frame, whose pHash is the same in every video."""
    ones = bin(int(frame_hash, 16)).count("1")
    return MIN_PICTURE_BITS <= ones <= 64 - MIN_PICTURE_BITS


def _video_distance(query: list[str], stored: list[str]) -> tuple[float, int] | None:
    """Mean bits between frames at the best temporal offset, over frames that show something,
    and how many frames were compared there."""
    q_pic, s_pic = [_has_picture(h) for h in query], [_has_picture(h) for h in stored]
    need = min(MIN_ALIGNED_FRAMES, sum(q_pic), sum(s_pic))
    if need == 0:
        return None
    best: tuple[float, int] | None = None
    for offset in range(-(len(query) - 1), len(stored)):
        pairs = [
            (query[i], stored[i + offset])
            for i in range(len(query))
            if 0 <= i + offset < len(stored) and q_pic[i] and s_pic[i + offset]
        ]
        if len(pairs) >= need:
            mean = float(np.mean([_bits(x, y) for x, y in pairs]))
            if best is None or mean < best[0]:
                best = (mean, len(pairs))
    return best


def distance_unit(kind: str) -> str:
    """What a distance of this fingerprint type counts: pHash bits, or a share of audio bits."""
    return "bit error rate" if kind == "audio-hk-v1" else "bits"


def is_match(query: dict[str, Any], value: float) -> bool:
    limits = {
        "image-phash-v1": IMAGE_MATCH_BITS,
        "video-phash-seq-v1": VIDEO_MATCH_BITS,
        "audio-hk-v1": AUDIO_MATCH_BER,
    }
    return value <= limits[query["type"]]
