"""The red-team lab's fake factory: ``verity lab make-fakes`` turns real media into labelled fakes.

Methods (each lives beside the detector it trains, in ``modalities/<modality>/synthesis/``):

* ``self_blend`` (visual): a face in a real photo pasted onto itself after a slight change
  (Self-Blended Images); the blended crop goes back into the full picture, so the output is a
  whole photo with one seam, like a face swap.
* ``upsample`` (visual): the photo shrunk and up-sampled back by a generator-like method.
* ``translate`` (visual): the whole picture, face or not, re-drawn by the lab's image-to-image
  network (``verity lab translator train``; synthesis/translator.py), CycleGAN's generator
  family: learnt down- and up-sampling instead of an imitated last step.
* ``faceswap`` (visual): real videos and photos of the two people a lab face-swap model was
  trained on (``verity lab faceswap train``), each swapped into the other person
  (synthesis/faceswap.py); sources showing neither person are skipped.
* ``copy_synthesis`` (audio): real speech re-rendered by Griffin-Lim, a phase vocoder or an LPC
  vocoder (WaveFake-style copy-synthesis).
* ``vocoder`` (audio): real speech re-rendered by the lab's neural vocoder (``verity lab vocoder
  train``; synthesis/vocoder.py): the traces of learnt up-sampling that real TTS systems share.
* ``tts`` (audio): for each real speech file, other words spoken by a Debian text-to-speech engine
  (eSpeak NG, Flite, Festival HTS or diphone; synthesis/tts_engines.py), paired with that real.
* ``remouth`` (lip-sync): a real talking-head video re-mouthed to speak the soundtrack of another
  real video of the folder (drawn per source, seeded), Video Rewrite-style
  (modalities/lipsync/synthesis/remouth.py); sources without a soundtrack or a face are skipped.
* ``mouthwarp`` (lip-sync): the same, but the clip's own mouth is warped open and shut with the
  other soundtrack's loudness (modalities/lipsync/synthesis/mouthwarp.py): a second family of
  lip-sync fakes, so that a detector is not measured on one generator's look only.

Each source is read from a folder's ``manifest.csv`` (rows labelled real, or with no label
column as in train-corpus) or, without a manifest, from the media files in the folder. The
output folder gets the fakes, a copy of each real source used, and a ``manifest.csv`` in the
media-dev format, so ``verity eval --root OUT`` and ``verity train --data OUT`` read it as is.
Outputs are deterministic for a seed (what is made from which source, and every picture and
sound; on one computer a video's bytes too, but its AAC soundtrack, and before engine 0.2.5 its
pictures, came out differently on a CPU with another instruction set). Labelling
(C2PA, ledger) is the caller's: it receives each fake's bytes before they are written
(``label``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import BadInputError, display_name
from core.training import inside, read_picture
from modalities.lab_inputs import check_out, manifest_rows

if TYPE_CHECKING:
    from modalities.audio.synthesis.vocoder import LoadedVocoder
    from modalities.visual.synthesis.translator import LoadedTranslator

METHODS = (
    "self_blend", "upsample", "copy_synthesis", "vocoder", "tts", "gan", "faceswap", "remouth",
    "mouthwarp", "translate",
)  # fmt: skip
KIND_OF = {"self_blend": "image", "upsample": "image", "copy_synthesis": "audio", "gan": "image"}
KIND_OF["translate"] = "image"
KIND_OF["tts"] = KIND_OF["vocoder"] = "audio"
KIND_OF["faceswap"] = KIND_OF["remouth"] = KIND_OF["mouthwarp"] = "video"  # faceswap: also
# pictures, see _fits
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm"}
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".m4a"}
COLUMNS = ("file", "label", "kind", "category", "generator", "source_file", "seed", "sha256")
SAMPLE_RATE = 16_000
MAX_AUDIO_S = 20.0
SWAP_SHARPEN = (0.0, 3.0, 6.0)  # converter sharpening of a swap, drawn per source (seeded)


@dataclass(frozen=True)
class Source:
    path: Path
    relative: str
    kind: str


@dataclass(frozen=True)
class Fake:
    file: str
    kind: str
    method: str
    generator: dict[str, Any]
    source_file: str
    sha256: str


# receives (bytes, suffix, generator) and returns the bytes to write (with Content Credentials)
Labeller = Callable[[bytes, str, dict[str, Any]], bytes]
# receives (file about to be published, its name in the manifest, generator): the ledger entry
Registrar = Callable[[Path, str, dict[str, Any]], None]


def find_sources(folder: Path) -> list[Source]:
    """Real images and audio of ``folder`` (its manifest when present), in a stable order."""
    if not folder.is_dir():
        raise BadInputError(f"{display_name(folder)}: not a directory")
    manifest = folder / "manifest.csv"
    sources = []
    if manifest.is_file():
        for line, row in manifest_rows(manifest):
            if (row.get("label") or "real").strip().lower() != "real":
                continue
            kind = (row.get("kind") or "").strip().lower()
            if kind not in {"image", "audio", "video"} or not row.get("file"):
                continue
            path = inside(folder, row["file"], f"{display_name(manifest)}: line {line}")
            if not path.is_file():
                raise BadInputError(
                    f"{display_name(manifest)} line {line}: {row['file']!r} missing"
                )
            sources.append(Source(path, row["file"], kind))
    else:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            suffix = path.suffix.lower()
            kind = (
                "image"
                if suffix in IMAGE_SUFFIXES
                else "audio"
                if suffix in AUDIO_SUFFIXES
                else "video"
                if suffix in VIDEO_SUFFIXES
                else None
            )
            if kind:
                relative = path.relative_to(folder).as_posix()
                sources.append(
                    Source(inside(folder, relative, display_name(folder)), relative, kind)
                )
    return sources


def _rng(seed: int, method: str, relative: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\0{method}\0{relative}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _encode_image(rgb: np.ndarray, like: Path) -> tuple[bytes, str]:
    """Same family of format as the source (JPEG stays JPEG), so the format is no cue."""
    from PIL import Image

    buffer = io.BytesIO()
    if like.suffix.lower() in {".jpg", ".jpeg"}:
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=95)
        return buffer.getvalue(), ".jpg"
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue(), ".png"


def self_blend_picture(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The whole picture with its largest reliable face self-blended; None without such a face."""
    import cv2

    from modalities.visual import blend_net, faces
    from modalities.visual.synthesis import self_blend

    upsample = 1 if max(rgb.shape[:2]) < 250 else 0
    found = [f for f in faces.detect_faces(rgb, upsample=upsample) if not f.tiny]
    if not found:
        return None
    face = max(found, key=lambda f: f.side)
    size = blend_net.CROP_SIZE * 2
    matrix = faces.crop_transform(face, size, blend_net.CROP_ZOOM)
    crop = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    fake, _ = self_blend.self_blend(crop, faces.transform_points(face.landmarks, matrix), rng)
    # only what the blend changed goes back: the rest of the picture keeps its original pixels
    delta = fake.astype(np.float32) - crop.astype(np.float32)
    height, width = rgb.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    back = cv2.warpAffine(delta, matrix, (width, height), flags=flags, borderValue=0)
    out = np.clip(rgb.astype(np.float32) + back, 0, 255).astype(np.uint8)
    return out if not np.array_equal(out, rgb) else None


def _make_picture(
    source: Source,
    method: str,
    rng: np.random.Generator,
    translator: LoadedTranslator | None = None,
) -> tuple[bytes, str, dict[str, Any]] | None:
    from modalities.visual.synthesis import translator as translation
    from modalities.visual.synthesis import upsampling

    rgb = read_picture(source.path)
    fake: np.ndarray | None
    detail: dict[str, Any]
    if method == "translate" and translator is not None:
        if max(rgb.shape[:2]) > translation.MAX_SIDE:
            return None  # too large to re-draw whole; skipped like a source without a face
        fake = translation.translate(translator, rgb)
        detail = {
            "method": "translate:lab", "module": "modalities.visual.synthesis.translator",
            "model_sha256": translator.sha256,
        }  # fmt: skip
    elif method == "self_blend":
        fake = self_blend_picture(rgb, rng)
        detail = {
            "method": "self_blend",
            "module": "modalities.visual.synthesis.self_blend",
        }
    else:
        choice = str(rng.choice(upsampling.METHODS))
        fake = upsampling.upsample_like_a_generator(rgb, rng, choice)
        detail = {
            "method": f"upsample:{choice}",
            "module": "modalities.visual.synthesis.upsampling",
        }
    if fake is None:
        return None
    data, suffix = _encode_image(fake, source.path)
    return data, suffix, detail


def _make_speech(
    source: Source, rng: np.random.Generator, vocoder_model: LoadedVocoder | None = None
) -> tuple[bytes, str, dict[str, Any]] | None:
    """Copy synthesis of the source; with ``vocoder_model`` (a loaded lab vocoder) its rendering
    by that neural vocoder."""
    from core.sound import decode_audio
    from modalities.audio.synthesis import copy_synthesis

    wave = decode_audio(source.path, sample_rate=SAMPLE_RATE, max_s=MAX_AUDIO_S)[0]
    if len(wave) < SAMPLE_RATE:
        return None  # under a second: nothing worth re-rendering
    if vocoder_model is not None:
        from modalities.audio.synthesis import vocoder

        rendered = vocoder.resynthesise(vocoder_model, wave)
        detail = {"method": "vocoder:lab", "module": "modalities.audio.synthesis.vocoder",
                  "model_sha256": vocoder_model.sha256}  # fmt: skip
        return _wav_bytes(rendered), ".wav", detail
    name = str(rng.choice(sorted(copy_synthesis.METHODS)))
    fake = copy_synthesis.METHODS[name](wave, int(rng.integers(2**31)))
    detail = {
        "method": f"copy_synthesis:{name}",
        "module": "modalities.audio.synthesis.copy_synthesis",
    }
    return _wav_bytes(fake), ".wav", detail


def _make_tts(source: Source, rng: np.random.Generator) -> tuple[bytes, str, dict[str, Any]]:
    """Other words than the source's, spoken by an engine drawn for this source (seeded)."""
    from modalities.audio.synthesis import tts_engines

    engine = str(rng.choice(sorted(tts_engines.ENGINES)))
    words = tts_engines.text(rng)
    wave = tts_engines.synthesise(engine, words, rng)
    detail = {
        "method": f"tts:{engine}",
        "module": "modalities.audio.synthesis.tts_engines",
        "engine_version": tts_engines.version(engine),
        "text": words,
    }
    return _wav_bytes(wave[: int(MAX_AUDIO_S * SAMPLE_RATE)]), ".wav", detail


def _wav_bytes(wave: np.ndarray) -> bytes:
    """16-bit mono WAV at 16 kHz."""
    from core.sound import encode_wav

    return encode_wav(wave, sample_rate=SAMPLE_RATE)


def _fits(method: str, kind: str) -> bool:
    return kind == KIND_OF[method] or (method == "faceswap" and kind == "image")


def _make_swap(
    source: Source, swap: tuple[Any, dict[str, Any], str], rng: np.random.Generator
) -> tuple[bytes, str, dict[str, Any]] | None:
    """The source with its person swapped into the model's other person; None when the source
    shows neither of the model's two people (or no reliable face)."""
    from core import media
    from modalities.visual.synthesis import faceswap, faceswap_io

    net, config, model_sha = swap
    if source.kind == "image":
        pictures = [read_picture(source.path)]
    else:
        pictures = [f.rgb for f in media.iter_frames(source.path, fps=1.0, max_frames=3)]
    identity = next(
        (i for i in map(lambda p: faceswap.identity_of(p, config), pictures) if i), None
    )
    if identity is None:
        return None
    direction = "a2b" if identity == "a" else "b2a"
    sharpen = float(rng.choice(SWAP_SHARPEN))
    result = faceswap_io.swap_file(net, source.path, direction, sharpen=sharpen)
    detail = {
        "method": f"faceswap:{direction}", "module": "modalities.visual.synthesis.faceswap",
        "model_sha256": model_sha, "sharpen": sharpen, "frames": result.frames,
        "frames_swapped": result.swapped,
    }  # fmt: skip
    return result.data, result.suffix, detail


def _make_remouth(
    source: Source, sources: list[Source], rng: np.random.Generator, method: str = "remouth"
) -> tuple[bytes, str, dict[str, Any]] | None:
    """The source video speaking another video's soundtrack, its mouth re-made by ``method``
    (``remouth`` or ``mouthwarp``); None when the source has no soundtrack or face to re-mouth,
    or the folder no other video to take a soundtrack from."""
    from modalities.lipsync.synthesis import mouthwarp, remouth

    others = [s for s in sources if s.kind == "video" and s.relative != source.relative]
    if not others:
        return None
    driving = others[int(rng.integers(len(others)))]
    make, version = (
        (mouthwarp.mouthwarp, mouthwarp.VERSION)
        if method == "mouthwarp"
        else (remouth.remouth, remouth.VERSION)
    )
    try:
        result = make(source.path, driving.path)
    except BadInputError:
        return None  # no soundtrack, no face on most frames, or a silent driving track
    detail = {
        "method": f"{method}:{version}", "module": f"modalities.lipsync.synthesis.{method}",
        "driving_source": driving.relative, "driving_sha256": _sha(driving.path.read_bytes()),
        "frames": result.frames, "frames_remouthed": result.remouthed, "jumps": result.jumps,
    }  # fmt: skip
    return result.data, result.suffix, detail


def publish(
    payload: bytes,
    suffix: str,
    target: Path,
    relative: str,
    generator: dict[str, Any],
    label: Labeller,
    register: Registrar,
) -> bytes:
    """Label ``payload`` (C2PA), write it beside ``target``, register that file in the ledger and
    only then move it into place: a lab output never appears unlabelled or half-written, and a
    failed registration leaves nothing behind. Returns the bytes published."""
    final = label(payload, suffix, generator)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.part{target.suffix}")
    try:
        tmp.write_bytes(final)
        register(tmp, relative, generator)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    tmp.replace(path)


@contextmanager
def _taken_back_on_failure(out: Path) -> Iterator[None]:
    """A run that fails part-way removes every file and folder it added under ``out``, so no
    orphan fake and no manifest missing its rows is left; what it registered stays in the
    ledger, which truthfully records that Verity made those files."""
    existed = out.exists()
    before = set(out.rglob("*")) if existed else set()
    try:
        yield
    except BaseException:
        added = set(out.rglob("*")) - before if out.exists() else set()
        for path in sorted(added, key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                with suppress(OSError):
                    path.rmdir()
            else:
                path.unlink(missing_ok=True)
        if not existed:
            with suppress(OSError):
                out.rmdir()
        raise


def make_fakes(
    data: Path,
    out: Path,
    *,
    methods: list[str],
    limit: int | None,
    seed: int,
    label: Labeller,
    register: Registrar,
    progress: Callable[[int, int], None] | None = None,
    gan_model: Path | None = None,
    faceswap_model: Path | None = None,
    vocoder_model: Path | None = None,
    translator_model: Path | None = None,
) -> tuple[list[Fake], Path]:
    """Write fakes, copies of their real sources and ``manifest.csv``; returns the fakes and the
    manifest's path. Each fake is labelled (``label``) before it touches the disk and registered
    (``register``) before it appears under its name: a fake is never published unlabelled."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise BadInputError(
            f"--methods: unknown {', '.join(unknown) or '(none)'}; known: {', '.join(METHODS)}"
        )
    if "gan" in methods:  # a missing or bad model file fails here, before anything is written
        from modalities.visual.synthesis import stylegan

        if gan_model is None:
            raise BadInputError(
                "--methods gan needs --gan-model (a file from `verity lab gan train`)"
            )
        stylegan.load_model(gan_model)
    if "tts" in methods:  # missing engines fail here, before anything is written
        from modalities.audio.synthesis import tts_engines

        tts_engines.require(sorted(tts_engines.ENGINES))
    neural = None
    if "vocoder" in methods:
        if vocoder_model is None:
            raise BadInputError("--methods vocoder needs --vocoder-model (lab vocoder train)")
        from modalities.audio.synthesis import vocoder

        neural = vocoder.load_model(vocoder_model)
    translator = None
    if "translate" in methods:
        if translator_model is None:
            raise BadInputError(
                "--methods translate needs --translator-model (verity lab translator train)"
            )
        from modalities.visual.synthesis import translator as translation

        translator = translation.load_model(translator_model)
    swap = None
    if "faceswap" in methods:
        if faceswap_model is None:
            raise BadInputError(
                "--methods faceswap needs --faceswap-model (verity lab faceswap train)"
            )
        from modalities.visual.synthesis import faceswap_net

        net, config = faceswap_net.load(faceswap_model)
        swap = (net, config, _sha(faceswap_model.read_bytes()))
    check_out(out)  # after the options, before anything is written: no dataset overwritten
    sources = find_sources(data)
    plan = []
    for method in methods:
        if method == "gan":
            continue  # drawn from the model, not made from a source: see below
        fitting = [s for s in sources if _fits(method, s.kind)]
        if limit:  # a seeded sample across the whole folder, not its first files
            fitting.sort(key=lambda s: _rng(seed, f"pick:{method}", s.relative).random())
        plan += [(method, s) for s in fitting[: limit or None]]
    if not plan and "gan" not in methods:
        raise BadInputError(
            f"{display_name(data)}: no real "
            f"{' or '.join(sorted({KIND_OF[m] for m in methods}))} to make fakes from"
        )
    with _taken_back_on_failure(out):
        out.mkdir(parents=True, exist_ok=True)
        rows: list[dict[str, str]] = []
        fakes: list[Fake] = []
        reals: dict[str, dict[str, str]] = {}
        for done, (method, source) in enumerate(plan, start=1):
            rng = _rng(seed, method, source.relative)
            if method == "faceswap" and swap is not None:
                made = _make_swap(source, swap, rng)
            elif method == "tts":
                made = _make_tts(source, rng)
            elif method in ("remouth", "mouthwarp"):
                made = _make_remouth(source, sources, rng, method)
            elif method == "vocoder":
                made = _make_speech(source, rng, neural)
            else:
                made = (
                    _make_speech(source, rng)
                    if method == "copy_synthesis"
                    else _make_picture(source, method, rng, translator)
                )
            if progress:
                progress(done, len(plan))
            if made is None:
                continue
            payload, suffix, detail = made
            generator = {**detail, "seed": seed, "source_sha256": _sha(source.path.read_bytes())}
            stem = Path(source.relative).with_suffix("").as_posix().replace("/", "__")
            relative = f"fake/{method}/{stem}{suffix}"
            final = publish(payload, suffix, out / relative, relative, generator, label, register)
            fake = Fake(relative, source.kind, method, generator, source.relative, _sha(final))
            fakes.append(fake)
            rows.append({
                "file": relative, "label": "fake", "kind": source.kind, "category": f"lab_{method}",
                "generator": f"verity-lab:{detail['method']}", "source_file": source.relative,
                "seed": str(seed), "sha256": fake.sha256,
            })  # fmt: skip
            if source.relative not in reals:
                real_relative = f"real/{source.relative}"
                target = out / real_relative
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name}.part")
                shutil.copyfile(source.path, tmp)
                tmp.replace(target)
                reals[source.relative] = {
                    "file": real_relative, "label": "real", "kind": source.kind,
                    "category": f"lab_{method}", "generator": "real (source of lab fakes)",
                    "source_file": source.relative, "seed": "", "sha256": _sha(target.read_bytes()),
                }  # fmt: skip
        if gan_model is not None and "gan" in methods:
            n_gan = limit or sum(s.kind == "image" for s in sources) or 1
            gan_fakes, gan_rows = publish_gan_faces(
                gan_model, out, n=n_gan, seed=seed, label=label, register=register
            )
            fakes += gan_fakes
            rows += gan_rows
        if not fakes:
            raise BadInputError(
                f"{display_name(data)}: no source gave a fake (no usable face or speech)"
            )
        return fakes, write_manifest(out, list(reals.values()) + rows)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- GAN faces


def publish_gan_faces(
    model: Path,
    out: Path,
    *,
    n: int,
    seed: int,
    label: Labeller,
    register: Registrar,
    truncation: float = 1.0,
    size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Fake], list[dict[str, str]]]:
    """``n`` faces from a lab GAN model file (image i from seed ``seed + i``), each labelled and
    registered before it is published, like every lab fake; returns them and their manifest rows.
    There is no real source: ``source_file`` stays empty and no real copy is written."""
    from modalities.visual.synthesis import stylegan

    if n < 1:
        raise BadInputError("-n: at least one face")
    if not 0.0 < truncation <= 2.0:
        raise BadInputError(f"--truncation {truncation}: must be in (0, 2]")
    if size is not None and not 16 <= size <= 1024:
        raise BadInputError(f"--size {size}: must be between 16 and 1024")
    loaded = stylegan.load_model(model)
    resolution = loaded.generator.config.resolution
    fakes: list[Fake] = []
    rows: list[dict[str, str]] = []
    for i in range(n):
        image_seed = seed + i
        rgb = stylegan.generate(loaded.generator, image_seed, truncation=truncation, size=size)
        data, suffix = _encode_image(rgb, Path("face.png"))
        generator = {
            "method": "gan:stylegan",
            "module": "modalities.visual.synthesis.stylegan",
            "model_sha256": loaded.sha256,
            "model_steps": loaded.facts.get("steps"),
            "resolution": resolution,
            "output_size": size or resolution,
            "truncation": truncation,
            "seed": image_seed,
        }
        relative = f"fake/gan/gan_s{image_seed:08d}{suffix}"
        final = publish(data, suffix, out / relative, relative, generator, label, register)
        fake = Fake(relative, "image", "gan", generator, "", _sha(final))
        fakes.append(fake)
        rows.append({
            "file": relative, "label": "fake", "kind": "image", "category": "lab_gan",
            "generator": f"verity-lab:gan:stylegan:{loaded.sha256[:12]}", "source_file": "",
            "seed": str(image_seed), "sha256": fake.sha256,
        })  # fmt: skip
        if progress:
            progress(i + 1, n)
    return fakes, rows


def write_manifest(out: Path, rows: list[dict[str, str]]) -> Path:
    """``manifest.csv`` (media-dev columns) written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    manifest = out / "manifest.csv"
    _atomic_write(manifest, buffer.getvalue().encode("utf-8"))
    return manifest
