"""provenance.fingerprint and `verity lookup`: near copies are found, unrelated media is not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from skimage import data

from core.cli import main
from core.media import MediaKind
from provenance.fingerprint import distance, fingerprint, is_match


def save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory, photo: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("variants")
    img = Image.open(photo).convert("RGB")
    w, h = img.size
    return {
        "recompressed": save(img, folder / "low.jpg", quality=15),
        "resized": save(img.resize((w // 2, h // 2)), folder / "half.jpg"),
        "cropped": save(img.crop((int(w * 0.1), 0, w, h)), folder / "crop.jpg"),
        "cropped_centre": save(
            img.crop((w // 20, h // 20, w - w // 20, h - h // 20)), folder / "centre.png"
        ),
    }


def test_image_near_copies_match_and_unrelated_do_not(photo: Path, variants, tmp_path) -> None:
    stored = fingerprint(photo, MediaKind.IMAGE)
    for name, path in variants.items():
        query = fingerprint(path, MediaKind.IMAGE)
        value = distance(query, stored)
        assert value is not None and is_match(query, value), (name, value)
    for other in (data.chelsea(), data.coffee(), data.rocket()):
        path = save(Image.fromarray(other), tmp_path / "other.jpg")
        query = fingerprint(path, MediaKind.IMAGE)
        assert not is_match(query, distance(query, stored))


def noise_clip(
    path: Path,
    seconds: int,
    seed: int,
    *,
    crf: int = 20,
    start: int = 0,
    black_before: int = 0,
    black_after: int = 0,
) -> Path:
    """One random scene per second; ``black_before`` / ``black_after`` seconds of black frames
    (a fade, a cut to black) around them."""
    rng = np.random.default_rng(seed)
    frames = [
        np.kron(rng.integers(0, 255, (12, 16, 3)), np.ones((20, 20, 1))).astype(np.uint8)
        for _ in range(seconds)
    ]
    black = np.zeros_like(frames[0])
    frames = [black] * black_before + frames + [black] * black_after
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"crf": str(crf)}
        for scene in frames[start:]:
            for _ in range(10):  # one scene per second
                for packet in stream.encode(av.VideoFrame.from_ndarray(scene, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_video_reencode_and_trim_match(tmp_path: Path) -> None:
    original = fingerprint(noise_clip(tmp_path / "o.mp4", 10, seed=1), MediaKind.VIDEO)
    reencoded = fingerprint(noise_clip(tmp_path / "r.mp4", 10, seed=1, crf=40), MediaKind.VIDEO)
    trimmed = fingerprint(noise_clip(tmp_path / "t.mp4", 10, seed=1, start=2), MediaKind.VIDEO)
    unrelated = fingerprint(noise_clip(tmp_path / "u.mp4", 10, seed=2), MediaKind.VIDEO)
    for query in (reencoded, trimmed):
        assert is_match(query, distance(query, original))
    assert not is_match(unrelated, distance(unrelated, original))


def test_black_frames_do_not_make_unrelated_videos_match(tmp_path: Path) -> None:
    """Black frames hash to the same pHash in every video: a registered clip that opens on black
    was a "near copy" of any unrelated clip that opens or ends on black."""
    stored = fingerprint(noise_clip(tmp_path / "o.mp4", 6, seed=1, black_before=4), MediaKind.VIDEO)
    both_open = fingerprint(
        noise_clip(tmp_path / "a.mp4", 6, seed=2, black_before=4), MediaKind.VIDEO
    )
    ends = fingerprint(noise_clip(tmp_path / "b.mp4", 6, seed=2, black_after=4), MediaKind.VIDEO)
    for query in (both_open, ends):
        value = distance(query, stored)
        assert value is None or not is_match(query, value), value
    # the registered clip itself, re-encoded, black opening and all, is still found
    copy = fingerprint(
        noise_clip(tmp_path / "r.mp4", 6, seed=1, crf=40, black_before=4), MediaKind.VIDEO
    )
    assert is_match(copy, distance(copy, stored))


def test_lookup_cli(home: Path, capsys, photo: Path, variants, tmp_path: Path) -> None:
    assert main(["register", str(photo), "--note", "desk-verified"]) == 0
    capsys.readouterr()
    assert main(["lookup", str(photo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exact"]["leaf_index"] == 0
    assert main(["lookup", str(variants["resized"]), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["exact"] is None and result["near"][0]["match"] is True
    assert result["near"][0]["note"] == "desk-verified"
    other = save(Image.fromarray(data.chelsea()), tmp_path / "cat.jpg")
    assert main(["lookup", str(other)]) == 0
    assert "no registered match" in capsys.readouterr().out
    assert main(["lookup", str(tmp_path / "missing.jpg")]) == 2


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped by a random, slowly varying spectral envelope: distinct for every seed."""
    rng = np.random.default_rng(seed)
    sr = 16_000
    n = int(seconds * sr)
    out = np.zeros(n, np.float32)
    block = 1024
    for start in range(0, n, block):
        tone = np.sin(2 * np.pi * rng.uniform(200, 2500) * np.arange(block) / sr)
        out[start : start + block] = (rng.uniform(0.05, 0.5) * tone)[: n - start]
    return out + 0.01 * rng.normal(size=n).astype(np.float32)


def test_audio_reencode_and_trim_match(tmp_path: Path) -> None:
    import soundfile

    from core.sound import encode_mp3

    wave = speechlike(8.0, seed=3)
    original = tmp_path / "o.wav"
    soundfile.write(original, wave, 16_000)
    stored = fingerprint(original, MediaKind.AUDIO)
    mp3 = tmp_path / "r.mp3"
    mp3.write_bytes(encode_mp3(wave, sample_rate=16_000, bit_rate=48_000))
    trimmed = tmp_path / "t.wav"
    soundfile.write(trimmed, wave[int(0.2 * len(wave)) + 37 :], 16_000)
    unrelated = tmp_path / "u.wav"
    soundfile.write(unrelated, speechlike(8.0, seed=4), 16_000)
    for path in (mp3, trimmed):
        query = fingerprint(path, MediaKind.AUDIO, query=True)
        assert is_match(query, distance(query, stored)), path.name
    query = fingerprint(unrelated, MediaKind.AUDIO, query=True)
    assert not is_match(query, distance(query, stored))


def test_digital_silence_does_not_make_unrelated_audio_match(tmp_path: Path) -> None:
    """Digital silence gives the same all-zero words in every file: one second of it in common was
    a bit error rate of 0, a "near copy" of unrelated speech."""
    import soundfile

    silence = np.zeros(int(1.5 * 16_000), np.float32)
    original = tmp_path / "o.wav"
    soundfile.write(original, np.concatenate([silence, speechlike(6.0, seed=3)]), 16_000)
    stored = fingerprint(original, MediaKind.AUDIO)
    unrelated = tmp_path / "u.wav"
    soundfile.write(unrelated, np.concatenate([speechlike(6.0, seed=4), silence]), 16_000)
    query = fingerprint(unrelated, MediaKind.AUDIO, query=True)
    value = distance(query, stored)
    assert value is None or not is_match(query, value), value
    # the registered recording, trimmed inside its silence, still matches
    trimmed = tmp_path / "t.wav"
    wave, _ = soundfile.read(original, dtype="float32")
    soundfile.write(trimmed, wave[8_000:], 16_000)
    query = fingerprint(trimmed, MediaKind.AUDIO, query=True)
    assert is_match(query, distance(query, stored))


def test_lookup_says_who_registered_what_and_that_a_near_match_may_be_an_edit(
    home: Path, capsys, photo: Path, variants
) -> None:
    """A fact-checker reads the text: by whom and when, the note, where the receipt comes from;
    and a near match is a copy *or an edit* (a face swap of registered video matches too)."""
    assert main(["register", str(photo), "--note", "desk-verified"]) == 0
    sha = capsys.readouterr().out.split("sha256 ")[1].strip()
    assert main(["lookup", str(photo)]) == 0
    out = capsys.readouterr().out
    assert "exact match" in out and "tester@verity" in out and "desk-verified" in out
    assert f"verity receipt {sha}" in out
    assert main(["lookup", str(photo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "image"  # the same keys as a near result
    assert main(["lookup", str(variants["resized"])]) == 0
    out = capsys.readouterr().out
    assert "near copy" in out and "edit" in out and "does not vouch" in out
    assert "tester@verity" in out and "desk-verified" in out and f"verity receipt {sha}" in out
    assert main(["lookup", str(variants["resized"]), "--json"]) == 0
    near = json.loads(capsys.readouterr().out)["near"][0]
    assert near["registrant"] == "tester@verity" and near["case_id"]
    assert near["kind"] == "image" and near["distance_unit"] == "bits"


def test_lookup_of_audio_states_a_bit_error_rate(home: Path, capsys, tmp_path: Path) -> None:
    """Audio distances are a share of differing bits (0 to 1), not a count of bits."""
    import soundfile

    from core.sound import encode_mp3

    wave = speechlike(6.0, seed=5)
    original = tmp_path / "o.wav"
    soundfile.write(original, wave, 16_000)
    mp3 = tmp_path / "r.mp3"
    mp3.write_bytes(encode_mp3(wave, sample_rate=16_000, bit_rate=48_000))
    assert main(["register", str(original)]) == 0
    capsys.readouterr()
    assert main(["lookup", str(mp3)]) == 0
    out = capsys.readouterr().out
    assert "bit error rate 0." in out and " bits" not in out
    assert main(["lookup", str(mp3), "--json"]) == 0
    near = json.loads(capsys.readouterr().out)["near"][0]
    assert near["match"] and near["distance_unit"] == "bit error rate"


def test_a_match_says_how_much_it_has_in_common(home: Path, capsys, tmp_path: Path) -> None:
    """A match may rest on a shared second of sound or three frames (an intro, a jingle): the
    lookup says over how many seconds the registered media and the file were compared."""
    import soundfile

    wave = speechlike(8.0, seed=6)
    soundfile.write(tmp_path / "whole.wav", wave, 16_000)
    soundfile.write(tmp_path / "tail.wav", wave[int(5.0 * 16_000) :], 16_000)  # its last 3 s
    assert main(["register", str(tmp_path / "whole.wav")]) == 0
    assert main(["register", str(noise_clip(tmp_path / "o.mp4", 10, seed=1))]) == 0
    capsys.readouterr()
    assert main(["lookup", str(tmp_path / "tail.wav"), "--json"]) == 0
    near = json.loads(capsys.readouterr().out)["near"][0]
    assert near["match"] and 2.5 <= near["overlap_s"] <= 3.1, near
    trimmed = noise_clip(tmp_path / "t.mp4", 10, seed=1, start=6)  # 4 s of the 10 registered
    assert main(["lookup", str(trimmed), "--json"]) == 0
    near = json.loads(capsys.readouterr().out)["near"][0]
    assert near["match"] and 3 <= near["overlap_s"] <= 5, near
    assert main(["lookup", str(trimmed)]) == 0
    assert re.search(
        r"distance \d+\.\d bits over [345] s in common: MATCH", capsys.readouterr().out
    )
    photo = tmp_path / "p.png"
    Image.fromarray(data.astronaut()).save(photo)
    assert main(["register", str(photo)]) == 0
    capsys.readouterr()
    Image.fromarray(data.astronaut()).save(tmp_path / "p.jpg", quality=60)
    assert main(["lookup", str(tmp_path / "p.jpg"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["near"][0]["overlap_s"] is None  # a picture


def test_lookup_of_audio_too_short_to_fingerprint_says_why(
    home: Path, tmp_path: Path, capsys
) -> None:
    """Under about a second of sound has no near-copy fingerprint: the line says so, not that
    one is missing "yet"."""
    import soundfile

    path = tmp_path / "blip.wav"
    soundfile.write(path, np.random.default_rng(0).normal(0, 0.1, 8000).astype(np.float32), 16000)
    assert main(["lookup", str(path)]) == 0
    out = capsys.readouterr().out
    assert "too little audio for a near-copy fingerprint (exact copies only)" in out, out
