"""Robustness attacks for ``verity eval --attack``: what happens to evidence on its way to us.

Two kinds. *File* attacks re-write a copy of the media the way platforms and launderers do
(JPEG re-encoding, down-scaling, noise, blur, sharpening; for sound an MP3 at a low bit rate or a
low-pass filter), and the copy is scored like any file. *Input* attacks (PGD) need a detector's
own network: they perturb the tensor a differentiable detector feeds its network, within an L-inf
ball, pushing fakes toward "real" (a white-box upper bound on what an adversary could do).

Spec grammar (comma-separated): ``jpeg:q=50``, ``resize:0.5`` (down-scale only, as platforms do),
``noise:0.01`` (Gaussian, sigma as a fraction of full scale, pictures and sound), ``blur:1``
(Gaussian, sigma in pixels), ``sharpen:2`` (unsharp mask of that amount, radius 1 px: the
"converter sharpening" of face-swap tools, which hides the blur of a pasted face),
``mp3:kbps=32``, ``lowpass:4000`` (Hz), ``h264:crf=35`` (videos only: re-encoded at that
constant rate factor, 18 is near-lossless and 51 the coarsest; what a platform's transcoder does
to the picture), ``pgd:eps=2/255`` (optional ``:steps=10``). Picture attacks do not apply to audio
files and sound attacks do not apply to images (reported ``n/a``); a video gets the picture attack
on every frame and the sound attack on its audio track, and is re-encoded once (H.264 CRF 18
unless ``h264`` says otherwise, AAC), which is itself part of the attack. Perturbed copies are
deterministic (noise is seeded by the file's SHA-256 and the attack), so a resumed run scores
the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import BadInputError
from core.frames import encoder_frame

PICTURE = {"jpeg", "resize", "noise", "blur", "sharpen"}
SOUND = {"mp3", "lowpass", "noise"}
VIDEO = {"h264"}
AUDIO_RATE = 16_000
_DEFAULT_KEY = {"jpeg": "q", "resize": "factor", "noise": "sigma", "blur": "sigma"}
_DEFAULT_KEY["sharpen"] = "amount"
_DEFAULT_KEY.update({"mp3": "kbps", "lowpass": "hz", "pgd": "eps", "h264": "crf"})
_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("jpeg", "q"): (1, 100),
    ("resize", "factor"): (0.05, 1.0),
    ("noise", "sigma"): (0.0, 1.0),
    ("blur", "sigma"): (0.05, 50),
    ("sharpen", "amount"): (0.05, 20),
    ("mp3", "kbps"): (8, 320),
    ("lowpass", "hz"): (100, 7_900),
    ("h264", "crf"): (0, 51),
    ("pgd", "eps"): (0.0, 1.0),
    ("pgd", "steps"): (1, 200),
}


@dataclass(frozen=True)
class Attack:
    name: str
    params: tuple[tuple[str, float], ...]

    @property
    def label(self) -> str:
        """Canonical text (also the resume key): ``jpeg:q=50``, ``pgd:eps=0.007843:steps=10``."""
        return self.name + "".join(f":{k}={_num(v)}" for k, v in self.params)

    def get(self, key: str) -> float:
        return dict(self.params)[key]

    @property
    def is_input_attack(self) -> bool:
        return self.name == "pgd"

    def applies_to(self, kind: str) -> bool:
        if self.is_input_attack:
            return True
        if self.name in VIDEO or kind == "video":
            return kind == "video"
        return self.name in (SOUND if kind == "audio" else PICTURE)


def _num(value: float) -> str:
    return f"{value:.6g}"


def _value(text: str, where: str) -> float:
    text = text.strip()
    try:
        if "/" in text:
            top, bottom = text.split("/", 1)
            return float(Fraction(top.strip()) / Fraction(bottom.strip()))
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise BadInputError(f"--attack {where}: {text!r} is not a number") from None


def parse_attacks(spec: str) -> list[Attack]:
    """``"jpeg:q=50,resize:0.5"`` → attacks; every mistake is one BadInputError naming it."""
    attacks: list[Attack] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            raise BadInputError(f"--attack {spec!r}: empty item")
        name, *args = [a.strip() for a in item.split(":")]
        name = name.lower()
        if name not in _DEFAULT_KEY:
            known = ", ".join(sorted(_DEFAULT_KEY))
            raise BadInputError(f"--attack {item!r}: unknown attack {name!r} (known: {known})")
        params: dict[str, float] = {}
        for arg in args:
            key, sep, text = arg.partition("=")
            key, text = (key.strip().lower(), text) if sep else (_DEFAULT_KEY[name], key)
            if (name, key) not in _RANGES:
                raise BadInputError(f"--attack {item!r}: {name} takes no parameter {key!r}")
            params[key] = _value(text, item)
        params.setdefault(_DEFAULT_KEY[name], float("nan"))
        if name == "pgd":
            params.setdefault("steps", 10.0)
        for key, value in params.items():
            low, high = _RANGES[(name, key)]
            if not low <= value <= high:  # also refuses NaN (a missing value)
                raise BadInputError(f"--attack {item!r}: {key} must lie in [{low}, {high}]")
        attack = Attack(name, tuple(sorted(params.items())))
        if attack.label in {a.label for a in attacks}:
            raise BadInputError(f"--attack {item!r}: given twice")
        attacks.append(attack)
    return attacks


# ------------------------------------------------------------------------------ file attacks


def _rng(sha256: str, attack: Attack) -> np.random.Generator:
    seed = hashlib.sha256(f"{sha256}\0{attack.label}".encode()).digest()
    return np.random.default_rng(int.from_bytes(seed[:8], "big"))


def perturb_picture(rgb: np.ndarray, attack: Attack, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 picture under a picture attack (the JPEG one is a real encode/decode)."""
    import cv2
    from PIL import Image

    if attack.name == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=int(attack.get("q")))
        return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    if attack.name == "resize":
        factor = attack.get("factor")
        height, width = rgb.shape[:2]
        size = (max(2, round(width * factor / 2) * 2), max(2, round(height * factor / 2) * 2))
        return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    if attack.name == "noise":
        noisy = rgb.astype(np.float32) + rng.normal(0, attack.get("sigma") * 255, rgb.shape)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    if attack.name == "blur":
        return np.asarray(cv2.GaussianBlur(rgb, (0, 0), attack.get("sigma")))
    if attack.name == "sharpen":
        amount = attack.get("amount")
        soft = cv2.GaussianBlur(rgb, (0, 0), 1.0).astype(np.float32)
        sharp = rgb.astype(np.float32) * (1 + amount) - soft * amount
        return np.clip(np.rint(sharp), 0, 255).astype(np.uint8)
    raise AssertionError(attack.name)


def perturb_sound(wave: np.ndarray, attack: Attack, rng: np.random.Generator) -> np.ndarray:
    """Mono float audio at 16 kHz under a sound attack."""
    from core.sound import decode_audio, encode_mp3

    if attack.name == "noise":
        return np.clip(wave + rng.normal(0, attack.get("sigma"), wave.shape), -1, 1).astype(
            np.float32
        )
    if attack.name == "lowpass":
        from scipy.signal import butter, sosfiltfilt

        sos = butter(8, attack.get("hz"), btype="low", fs=AUDIO_RATE, output="sos")
        return np.asarray(sosfiltfilt(sos, wave), dtype=np.float32)
    if attack.name == "mp3":
        data = encode_mp3(wave, sample_rate=AUDIO_RATE, bit_rate=int(attack.get("kbps") * 1000))
        with _scratch(data, ".mp3") as path:
            return np.asarray(decode_audio(path, sample_rate=AUDIO_RATE)[0])
    raise AssertionError(attack.name)


class _scratch:
    """A temporary file holding ``data`` (PyAV decodes MP3 more reliably from a named file)."""

    def __init__(self, data: bytes, suffix: str) -> None:
        import tempfile

        fd, name = tempfile.mkstemp(suffix=suffix)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        self.path = Path(name)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def attacked_name(sha256: str, kind: str, attack: Attack, source_suffix: str) -> str:
    if kind == "image":
        return f"{sha256}.{'jpg' if attack.name == 'jpeg' else 'png'}"
    if kind == "audio":
        return f"{sha256}.{'mp3' if attack.name == 'mp3' else 'wav'}"
    return f"{sha256}.mp4"


def apply_file_attack(
    source: Path, kind: str, sha256: str, attack: Attack, folder: Path
) -> Path | None:
    """Write the attacked copy into ``folder`` atomically (kept if already there); None when the
    attack does not apply to this kind of media."""
    if attack.is_input_attack or not attack.applies_to(kind):
        return None
    target = folder / attacked_name(sha256, kind, attack, source.suffix)
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.part{target.suffix}")
    rng = _rng(sha256, attack)
    try:
        if kind == "image":
            _write_image(source, tmp, attack, rng)
        elif kind == "audio":
            _write_audio(source, tmp, attack, rng)
        else:
            _write_video(source, tmp, attack, rng)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _write_image(source: Path, target: Path, attack: Attack, rng: np.random.Generator) -> None:
    from PIL import Image

    with Image.open(source) as image:
        rgb = np.asarray(image.convert("RGB"))
    out = Image.fromarray(perturb_picture(rgb, attack, rng))
    if attack.name == "jpeg":
        out.save(target, format="JPEG", quality=int(attack.get("q")))
    else:
        out.save(target, format="PNG")


def _write_audio(source: Path, target: Path, attack: Attack, rng: np.random.Generator) -> None:
    from core.sound import decode_audio, encode_mp3, encode_wav

    wave = perturb_sound(decode_audio(source, sample_rate=AUDIO_RATE)[0], attack, rng)
    if attack.name == "mp3":
        kbps = int(attack.get("kbps") * 1000)
        target.write_bytes(encode_mp3(wave, sample_rate=AUDIO_RATE, bit_rate=kbps))
    else:
        target.write_bytes(encode_wav(wave, sample_rate=AUDIO_RATE))


def _write_video(source: Path, target: Path, attack: Attack, rng: np.random.Generator) -> None:
    import av

    from core.media import iter_frames
    from core.sound import decode_audio

    with av.open(str(source)) as probe:
        stream = probe.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        has_audio = bool(probe.streams.audio)
    picture = attack.name in PICTURE
    wave = decode_audio(source, sample_rate=AUDIO_RATE)[0] if has_audio else None
    if wave is not None and attack.name in SOUND:
        wave = perturb_sound(wave, attack, rng)
    with av.open(str(target), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=Fraction(rate).limit_denominator(1001))
        video.pix_fmt = "yuv420p"
        crf = attack.get("crf") if attack.name == "h264" else 18
        video.options = {"preset": "veryfast", "crf": str(round(crf))}
        audio = None
        if wave is not None and len(wave):
            audio = container.add_stream("aac", rate=AUDIO_RATE)  # every stream before muxing
            audio.layout = "mono"
        sized = False
        for frame in iter_frames(source):
            rgb = perturb_picture(frame.rgb, attack, rng) if picture else frame.rgb
            rgb = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]
            if not sized:
                video.width, video.height = rgb.shape[1], rgb.shape[0]
                sized = True
            for packet in video.encode(encoder_frame(rgb, video.pix_fmt)):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None and wave is not None:
            _mux_aac(container, audio, wave)


def _mux_aac(container: Any, audio: Any, wave: np.ndarray) -> None:
    import av

    block = 1024
    for start in range(0, len(wave), block):
        chunk = np.ascontiguousarray(wave[np.newaxis, start : start + block], dtype=np.float32)
        sound = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        sound.sample_rate = AUDIO_RATE
        sound.pts = start
        sound.time_base = Fraction(1, AUDIO_RATE)
        for packet in audio.encode(sound):
            container.mux(packet)
    for packet in audio.encode():
        container.mux(packet)


# ----------------------------------------------------------------------------- input attacks


class InputAttack(Protocol):
    """What a differentiable detector calls on its network's input when an attack is attached."""

    def __call__(
        self,
        logit: Callable[[Any], Any],
        inputs: np.ndarray,
        *,
        scale: float,
        low: float | None = None,
        high: float | None = None,
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class PGD:
    """Projected gradient descent in L-inf (Madry et al., ICLR 2018), toward "real".

    ``eps`` is a fraction of the input's full scale: ``scale`` is that full scale for the
    detector's input (255 for 8-bit pixels, 1 for a standardised feature). The step is eps/4;
    the start is the clean input (no random start: the attack is deterministic).
    """

    eps: float
    steps: int = 10

    def __call__(
        self,
        logit: Callable[[Any], Any],
        inputs: np.ndarray,
        *,
        scale: float,
        low: float | None = None,
        high: float | None = None,
    ) -> np.ndarray:
        import torch

        eps = self.eps * scale
        alpha = eps / 4
        with torch.inference_mode(False), torch.enable_grad():
            clean = torch.tensor(np.asarray(inputs, dtype=np.float32))
            adv = clean.clone()
            for _ in range(self.steps):
                adv.requires_grad_(True)
                loss = logit(adv).sum()  # higher logit = more fake: descend it
                (grad,) = torch.autograd.grad(loss, adv)
                with torch.no_grad():
                    adv = adv - alpha * grad.sign()
                    adv = torch.max(torch.min(adv, clean + eps), clean - eps)
                    if low is not None or high is not None:
                        adv = adv.clamp(low, high)
            return adv.detach().numpy()


def pgd_from(attack: Attack) -> PGD:
    return PGD(eps=attack.get("eps"), steps=int(attack.get("steps")))


def supports_input_attack(detector: object) -> bool:
    """Detectors that expose their network's input to an attack carry an ``adversary`` slot."""
    return hasattr(detector, "adversary")
