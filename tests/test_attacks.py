"""core.attacks: the spec grammar, the file attacks (they really change the bytes, deterministic)
and PGD on a tiny differentiable function."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import attacks
from core.config import MediaLimits
from core.errors import BadInputError
from core.media import probe
from core.sound import decode_audio


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_spec_grammar_and_canonical_labels() -> None:
    parsed = attacks.parse_attacks(
        "jpeg:q=50, resize:0.5,noise:0.01,blur:1,mp3:kbps=32,pgd:eps=2/255"
    )
    assert [a.label for a in parsed] == [
        "jpeg:q=50",
        "resize:factor=0.5",
        "noise:sigma=0.01",
        "blur:sigma=1",
        "mp3:kbps=32",
        "pgd:eps=0.00784314:steps=10",
    ]
    assert attacks.parse_attacks("pgd:eps=0.1:steps=3")[0].get("steps") == 3
    for bad, words in {
        "": "empty item",
        "jpeg:q=50,,blur:1": "empty item",
        "emboss:2": "unknown attack 'emboss'",
        "jpeg": "q must lie",
        "jpeg:q=500": r"q must lie in \[1, 100\]",
        "jpeg:quality=50": "takes no parameter 'quality'",
        "noise:abc": "not a number",
        "pgd:eps=1/0": "not a number",
        "blur:1,blur:1": "given twice",
    }.items():
        with pytest.raises(BadInputError, match=words):
            attacks.parse_attacks(bad)


def test_kinds_each_attack_applies_to() -> None:
    jpeg, mp3, noise = attacks.parse_attacks("jpeg:q=50,mp3:kbps=32,noise:0.01")
    assert jpeg.applies_to("image") and not jpeg.applies_to("audio") and jpeg.applies_to("video")
    assert mp3.applies_to("audio") and not mp3.applies_to("image")
    assert noise.applies_to("audio") and noise.applies_to("image")
    (h264,) = attacks.parse_attacks("h264:crf=35")
    assert h264.label == "h264:crf=35" and h264.applies_to("video")
    assert not h264.applies_to("image") and not h264.applies_to("audio")
    with pytest.raises(BadInputError, match=r"crf must lie in \[0, 51\]"):
        attacks.parse_attacks("h264:crf=60")


def test_picture_attacks_change_the_file_and_repeat_exactly(tmp_path: Path, photo: Path) -> None:
    sha = _sha(photo)
    original = np.asarray(Image.open(photo).convert("RGB"))
    for spec in ("jpeg:q=20", "resize:0.5", "noise:0.05", "blur:2", "sharpen:2"):
        (attack,) = attacks.parse_attacks(spec)
        out = attacks.apply_file_attack(photo, "image", sha, attack, tmp_path / spec)
        assert out is not None and out.parent == tmp_path / spec
        assert _sha(out) != sha
        pixels = np.asarray(Image.open(out).convert("RGB"))
        if spec.startswith("resize"):
            assert pixels.shape[:2] == (original.shape[0] // 2, original.shape[1] // 2)
        else:
            assert pixels.shape == original.shape
            assert np.abs(pixels.astype(int) - original).mean() > 0.5
        if spec.startswith(("blur", "sharpen")):  # opposite effects on local contrast
            detail = float(np.abs(np.diff(pixels.astype(int), axis=1)).mean())
            before = float(np.abs(np.diff(original.astype(int), axis=1)).mean())
            assert detail > before if spec.startswith("sharpen") else detail < before
        again = attacks.apply_file_attack(photo, "image", sha, attack, tmp_path / f"again-{spec}")
        assert again is not None and _sha(again) == _sha(out)  # seeded: a resumed run agrees
        assert not list((tmp_path / spec).glob(".*part*"))  # written atomically
    (mp3,) = attacks.parse_attacks("mp3:kbps=32")
    assert attacks.apply_file_attack(photo, "image", sha, mp3, tmp_path / "mp3") is None


def test_sound_attacks(tmp_path: Path, tone: Path) -> None:
    sha = _sha(tone)
    clean = decode_audio(tone)[0]
    for spec in ("noise:0.02", "lowpass:300", "mp3:kbps=16"):
        (attack,) = attacks.parse_attacks(spec)
        out = attacks.apply_file_attack(tone, "audio", sha, attack, tmp_path / spec)
        assert out is not None and _sha(out) != sha
        wave = decode_audio(out)[0]
        assert abs(len(wave) - len(clean)) < 2_000
    lowpassed = decode_audio(tmp_path / "lowpass:300" / f"{sha}.wav")[0]
    assert np.abs(lowpassed).max() < 0.2 * np.abs(clean).max()  # 440 Hz tone is above 300 Hz


def test_video_attack_touches_frames_and_keeps_audio(tmp_path: Path, clip: Path) -> None:
    (attack,) = attacks.parse_attacks("resize:0.5")
    out = attacks.apply_file_attack(clip, "video", _sha(clip), attack, tmp_path)
    assert out is not None
    info = probe(out, MediaLimits())
    source = probe(clip, MediaLimits())
    assert info.video is not None and source.video is not None
    assert info.video.width == source.video.width // 2
    assert info.audio is not None
    assert abs((info.duration_s or 0) - (source.duration_s or 0)) < 0.2


def test_h264_attack_re_encodes_coarser_the_higher_its_crf(tmp_path: Path, clip: Path) -> None:
    """A coarser rate factor gives a smaller file with the same frames, size and soundtrack."""
    sizes = {}
    for crf in (18, 40):
        (attack,) = attacks.parse_attacks(f"h264:crf={crf}")
        out = attacks.apply_file_attack(clip, "video", _sha(clip), attack, tmp_path / str(crf))
        assert out is not None
        info, source = probe(out, MediaLimits()), probe(clip, MediaLimits())
        assert info.video is not None and source.video is not None and info.audio is not None
        assert (info.video.width, info.video.height) == (source.video.width, source.video.height)
        sizes[crf] = out.stat().st_size
    assert sizes[40] < 0.8 * sizes[18]  # the soundtrack (same in both) is part of each file
    (attack,) = attacks.parse_attacks("h264:crf=40")
    assert attacks.apply_file_attack(clip, "image", _sha(clip), attack, tmp_path / "x") is None


def test_pgd_stays_in_the_ball_and_lowers_the_logit() -> None:
    import torch

    weights = torch.linspace(-1, 1, 12).reshape(1, 12)

    def logit(x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(len(x), -1) * weights).sum(dim=1)

    inputs = np.full((3, 12), 128.0, dtype=np.float32)
    adv = attacks.PGD(eps=4 / 255, steps=8)(logit, inputs, scale=255.0, low=0.0, high=255.0)
    assert np.abs(adv - inputs).max() <= 4 + 1e-4
    before = logit(torch.tensor(inputs)).numpy()
    after = logit(torch.tensor(adv)).numpy()
    assert (after < before - 10).all()
