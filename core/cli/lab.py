"""``verity lab``: the red-team lab (fakes made to train and stress-test the detectors).

Every output is labelled synthetic at birth: a signed C2PA manifest (``c2pa.created``,
``trainedAlgorithmicMedia``, the lab's key under VERITY_HOME/keys/lab/) inside the file, and a
ledger leaf with ``synthetic: true`` and the generator, written before the file is published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from core import services
from core.app import Verity
from core.cli import render
from core.config import load_settings
from core.errors import BadInputError, CaseNotFoundError

# options the lab's trainers (faceswap, gan, vocoder, translator) share
ModelOut = Annotated[Path, typer.Option("--out", "-o", help="Model file to write.")]
Minutes = Annotated[
    float | None, typer.Option("--minutes", min=0.01, help="Wall-clock training budget.")
]
Steps = Annotated[int | None, typer.Option("--steps", min=1, help="Training steps.")]
Seed = Annotated[int, typer.Option("--seed")]
Threads = Annotated[int, typer.Option("--threads", min=1, max=64)]

lab_app = typer.Typer(help="Red-team lab: make labelled fakes.", no_args_is_help=True)


def _labelling(case: str | None) -> tuple[Any, Any]:
    """The labeller and registrar every lab output goes through (C2PA, then the ledger)."""
    from provenance import ledger
    from provenance.lab_credentials import sign_synthetic

    settings = load_settings()
    verity = Verity.open(settings)
    if case is not None and services.find_case_id(verity, case) is None:
        # before anything is made: the lab's signing key, the first fake
        raise CaseNotFoundError(case)

    def label(payload: bytes, suffix: str, generator: dict[str, Any]) -> bytes:
        return sign_synthetic(
            payload, suffix, keys_dir=settings.keys_dir, title=generator["method"],
            generator=generator,
        )  # fmt: skip

    def register(path: Path, relative: str, generator: dict[str, Any]) -> None:
        ledger.register(
            verity, path, case, "verity lab output (synthetic)", original_name=Path(relative).name,
            synthetic=generator,
        )  # fmt: skip

    return label, register


@lab_app.command("make-fakes")
def make_fakes_command(
    data: Annotated[
        Path, typer.Option("--data", help="Folder of real media (manifest.csv or files).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Where fakes, reals and manifest.csv go.")],
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Sources per method.")] = None,
    methods: Annotated[
        str,
        typer.Option(
            "--methods",
            help="Comma-separated: self_blend, upsample, copy_synthesis, vocoder (needs "
            "--vocoder-model), tts (Debian TTS engines), gan (needs --gan-model), faceswap "
            "(needs --faceswap-model), remouth (talking-head videos re-mouthed to speak "
            "another video's soundtrack), mouthwarp (the same by warping the clip's own mouth), "
            "translate (pictures re-drawn by an image-to-image network; needs "
            "--translator-model).",
        ),
    ] = "self_blend,upsample,copy_synthesis",
    case: Annotated[str | None, typer.Option("--case", "-c", help="Case to file fakes in.")] = None,
    seed: Seed = 0,
    gan_model: Annotated[
        Path | None, typer.Option("--gan-model", help="Lab GAN model file (method gan).")
    ] = None,
    faceswap_model: Annotated[
        Path | None, typer.Option("--faceswap-model", help="Model for --methods faceswap.")
    ] = None,
    vocoder_model: Annotated[
        Path | None, typer.Option("--vocoder-model", help="Model for --methods vocoder.")
    ] = None,
    translator_model: Annotated[
        Path | None, typer.Option("--translator-model", help="Model for --methods translate.")
    ] = None,
) -> None:
    """Make fakes from real media, sign each with the lab's C2PA key and register it as synthetic.

    The manifest (media-dev format) feeds `verity eval --root OUT` and `verity train --data OUT`.
    """
    from modalities import lab

    names = [m.strip() for m in methods.split(",") if m.strip()]
    if not names:
        raise BadInputError("--methods needs at least one method")
    label, register = _labelling(case)

    progress = render.make_progress(render.err.is_terminal)
    task = progress.add_task("making fakes", total=None)

    def report(done: int, total: int) -> None:
        progress.update(
            task, completed=done, total=total, description=f"making fakes {done}/{total}"
        )

    with progress:
        fakes, manifest = lab.make_fakes(
            data, out, methods=names, limit=limit, seed=seed, label=label, register=register,
            progress=report, gan_model=gan_model, faceswap_model=faceswap_model,
            vocoder_model=vocoder_model, translator_model=translator_model,
        )  # fmt: skip
    counts: dict[str, int] = {}
    for fake in fakes:
        counts[fake.method] = counts.get(fake.method, 0) + 1
    summary = ", ".join(f"{n} {m}" for m, n in sorted(counts.items()))
    render.out.print(f"made {len(fakes)} fake(s) ({summary}), each C2PA-signed and registered")
    render.out.print(f"wrote {render.safe(manifest)}")


# ------------------------------------------------------------------------------- face swap

faceswap_app = typer.Typer(
    help="Autoencoder face swap: train on two people, swap them in videos or photos.",
    no_args_is_help=True,
)
lab_app.add_typer(faceswap_app, name="faceswap")


@faceswap_app.command("train")
def faceswap_train(
    folder_a: Annotated[Path, typer.Option("--a", help="Pictures/videos of identity A.")],
    folder_b: Annotated[Path, typer.Option("--b", help="Pictures/videos of identity B.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write (.npz).")],
    minutes: Minutes = None,
    steps: Steps = None,
    size: Annotated[int, typer.Option("--size", help="Crop side: 64, 96 or 128.")] = 64,
    seed: Seed = 0,
    threads: Threads = 1,
    fps: Annotated[
        float, typer.Option("--fps", min=0.1, help="Frames a second taken from videos.")
    ] = 10.0,
) -> None:
    """Train a shared-encoder / two-decoder swap model (deterministic for a seed with --steps)."""
    from modalities.lab_inputs import check_model_out
    from modalities.visual.synthesis import faceswap, faceswap_net

    if steps is None and minutes is None:
        raise BadInputError("give --steps, --minutes or both")
    if out.suffix.lower() != ".npz":
        raise BadInputError(f"{out}: the model file must end in .npz")
    check_model_out(out, faceswap_net.FORMAT)
    progress = render.make_progress(render.err.is_terminal)
    task = progress.add_task("face swap", total=None)

    def report(step: str, done: int, total: int) -> None:
        progress.update(task, description=step, completed=done, total=total or None)

    with progress:
        summary = faceswap.train(
            folder_a, folder_b, out, size=size, steps=steps, minutes=minutes, seed=seed,
            threads=threads, fps=fps, progress=report,
        )  # fmt: skip
    ids = summary["identities"]
    render.out.print(
        f"trained {summary['steps']} steps in {summary['wall_s']:.0f} s on "
        f"{ids['a']['faces']} + {ids['b']['faces']} faces; loss {summary['loss']['first']:.3f} "
        f"-> {summary['loss']['last']:.3f}; wrote {render.safe(out)}"
    )


@faceswap_app.command("apply")
def faceswap_apply(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model from faceswap train.")],
    source: Annotated[Path, typer.Option("--video", "--image", help="Video or picture in.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output (.mp4 for a video).")],
    direction: Annotated[str, typer.Option("--direction", help="a2b or b2a.")] = "a2b",
    sharpen: Annotated[
        float, typer.Option("--sharpen", min=0, max=20, help="Unsharp-mask amount on the face.")
    ] = 0.0,
    case: Annotated[str | None, typer.Option("--case", "-c", help="Case to file it in.")] = None,
) -> None:
    """Swap the face of every frame, sign the result (C2PA) and register it as synthetic."""
    from modalities.visual.synthesis import faceswap, faceswap_io, faceswap_net

    video = source.suffix.lower() in faceswap.VIDEO_SUFFIXES
    wanted = {".mp4"} if video else {".jpg", ".jpeg", ".png"}
    if out.suffix.lower() not in wanted:
        raise BadInputError(f"{out}: output must end in {' or '.join(sorted(wanted))}")
    if direction not in ("a2b", "b2a"):
        raise BadInputError(f"--direction must be a2b or b2a, got {direction!r}")
    net, config = faceswap_net.load(model)
    progress = render.make_progress(render.err.is_terminal)
    task = progress.add_task("swapping", total=None)

    def report(done: int, total: int) -> None:
        progress.update(task, description=f"swapping frame {done}/{total}", completed=done,
                        total=total)  # fmt: skip

    with progress:
        result = faceswap_io.swap_file(
            net,
            source,
            direction,
            jpeg=out.suffix.lower() in {".jpg", ".jpeg"},
            sharpen=sharpen,
            progress=report,
        )
    generator = {**swap_generator(model, config, direction, source), "sharpen": sharpen}
    publish_synthetic(result.data, result.suffix, out, generator, case)
    render.out.print(
        f"swapped {result.swapped}/{result.frames} frame(s) ({direction}); "
        f"wrote {render.safe(out)}, C2PA-signed and registered as synthetic"
    )


def swap_generator(
    model: Path, config: dict[str, Any], direction: str, source: Path
) -> dict[str, Any]:
    """What the C2PA manifest and the ledger record say made a swap."""
    from core.store import sha256_file

    return {
        "method": f"faceswap:{direction}",
        "module": "modalities.visual.synthesis.faceswap",
        "model_sha256": sha256_file(model),
        "size": config.get("size"),
        "identities": {k: v.get("sources_sha256") for k, v in config["identities"].items()},
        "source_sha256": sha256_file(source),
    }


def publish_synthetic(
    payload: bytes, suffix: str, out: Path, generator: dict[str, Any], case: str | None
) -> None:
    """Sign ``payload`` with the lab's key, register it as synthetic, then (only then) move it
    to ``out``: nothing unlabelled or half-written is ever left there."""
    from modalities import lab

    label, register = _labelling(case)
    lab.publish(payload, suffix, out, out.name, generator, label, register)


# ------------------------------------------------------------------------------- verity lab gan

gan_app = typer.Typer(
    help="GAN face generator (compact StyleGAN2, CPU, 64 px).", no_args_is_help=True
)
lab_app.add_typer(gan_app, name="gan")


@gan_app.command("train")
def gan_train_command(
    data: Annotated[
        list[Path], typer.Option("--data", help="Folder of face photos; repeat for more.")
    ],
    out: ModelOut,
    minutes: Minutes = None,
    steps: Steps = None,
    seed: Seed = 0,
    batch: Annotated[int, typer.Option("--batch", min=2, max=256)] = 16,
    threads: Threads = 1,
    per_source: Annotated[int, typer.Option("--per-source", min=1)] = 500,
    include_gray: Annotated[
        bool, typer.Option("--include-gray", help="Also train on grayscale photos.")
    ] = False,
    perceptual: Annotated[
        float, typer.Option("--perceptual", min=0.0, help="Weight of the perceptual term.")
    ] = 0.0,
    snapshot_minutes: Annotated[
        float | None, typer.Option("--snapshot-minutes", min=0.01, help="Also save snapshots.")
    ] = None,
) -> None:
    """Train the lab's GAN face generator on aligned 64-px colour face crops, on the CPU.

    Writes the model file, a sample grid beside it (MODEL.grid.png) and, with
    --snapshot-minutes, earlier snapshots (MODEL-stepN.pt).
    """
    import torch

    from modalities.lab_inputs import check_model_out
    from modalities.visual.synthesis import stylegan

    options = stylegan.TrainOptions(
        batch=batch, steps=steps, minutes=minutes, seed=seed, perceptual_weight=perceptual,
        snapshot_every_s=snapshot_minutes * 60 if snapshot_minutes else None,
    )  # fmt: skip
    check_model_out(out, stylegan.FORMAT)
    torch.set_num_threads(threads)
    settings = load_settings()
    progress = render.make_progress(render.err.is_terminal)
    task = progress.add_task("gan", total=None)

    def report(stage: str, done: int, total: int) -> None:
        progress.update(task, description=f"gan · {stage}", completed=done, total=total)

    with progress:
        faces, provenance = stylegan.prepare_faces(
            data, per_source=per_source, include_gray=include_gray, seed=seed,
            cache_dir=settings.home / "cache", progress=report,
        )  # fmt: skip
        result = stylegan.train(
            faces, out, options=options, provenance=provenance,
            grid=out.with_name(f"{out.name}.grid.png"), progress=report,
        )  # fmt: skip
    render.out.print(
        f"trained on {len(faces)} faces: {result.steps} steps, {result.images_seen} images in "
        f"{result.seconds:.0f} s ({result.images_per_s:.1f} images/s); wrote {render.safe(out)}"
    )


@gan_app.command("sample")
def gan_sample_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model file from gan train.")],
    n: Annotated[int, typer.Option("-n", min=1, help="How many faces.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for PNGs + manifest.csv.")],
    seed: Annotated[int, typer.Option("--seed", help="Face i comes from seed + i.")] = 0,
    truncation: Annotated[
        float, typer.Option("--truncation", help="1 = no truncation; lower = more average faces.")
    ] = 1.0,
    size: Annotated[
        int | None, typer.Option("--size", help="Resize to SIZE px (Lanczos) after generation.")
    ] = None,
    case: Annotated[str | None, typer.Option("--case", "-c", help="Case to file faces in.")] = None,
) -> None:
    """Draw faces from a lab GAN, each C2PA-signed and registered as synthetic; manifest.csv in
    the media-dev format (label fake, category lab_gan) for `verity eval` and `verity train`."""
    import torch

    from modalities import lab
    from modalities.lab_inputs import check_out
    from modalities.visual.synthesis import stylegan

    torch.set_num_threads(1)
    check_out(out)  # no file in the way, no other dataset's manifest.csv overwritten
    stylegan.load_model(model)  # a bad file fails before anything is written
    label, register = _labelling(case)
    progress = render.make_progress(render.err.is_terminal)
    task = progress.add_task("sampling", total=n)
    with progress:
        fakes, rows = lab.publish_gan_faces(
            model, out, n=n, seed=seed, truncation=truncation, size=size, label=label,
            register=register, progress=lambda done, total: progress.update(task, completed=done),
        )  # fmt: skip
    manifest = lab.write_manifest(out, rows)
    render.out.print(f"sampled {len(fakes)} GAN face(s), each C2PA-signed and registered")
    render.out.print(f"wrote {render.safe(manifest)}")


# --------------------------------------------------------------------------- verity lab vocoder

vocoder_app = typer.Typer(
    help="Neural vocoder (MelGAN-style, CPU): speech rendered from a mel spectrogram.",
    no_args_is_help=True,
)
lab_app.add_typer(vocoder_app, name="vocoder")


@vocoder_app.command("train")
def vocoder_train_command(
    data: Annotated[
        list[Path], typer.Option("--data", help="Folder with manifest.csv; its real speech.")
    ],
    out: ModelOut,
    minutes: Minutes = None,
    steps: Steps = None,
    seed: Seed = 0,
    batch: Annotated[int, typer.Option("--batch", min=1, max=256)] = 8,
    threads: Threads = 1,
) -> None:
    """Train the lab's neural vocoder on the real speech of the folders (first 20 s of each)."""
    from core.sound import decode_audio
    from modalities.audio.synthesis import vocoder
    from modalities.audio.training.data import collect

    items, provenance = collect(data, allow_one_class=True)
    reals = [i for i in items if i.label == 0]
    if not reals:
        raise BadInputError("no real speech in the --data folders")

    def read(item: Any) -> Any:
        return decode_audio(item.path, sample_rate=vocoder.SAMPLE_RATE, max_s=20.0)[0]

    _train_lab_model(
        "vocoder", "real speech files", reals, read, vocoder.train,
        budget=(minutes, steps), threads=threads, out=out, fmt=vocoder.FORMAT,
        options={"batch": batch, "seed": seed}, facts={"folders": provenance, "files": len(reals)},
    )  # fmt: skip


def _train_lab_model(
    name: str,
    what: str,
    items: list[Any],
    read: Any,
    train: Any,
    *,
    budget: tuple[float | None, int | None],
    threads: int,
    out: Path,
    fmt: str,
    options: dict[str, Any],
    facts: dict[str, Any],
) -> None:
    """What the lab's trainers share: a budget, a thread count, the training data read with a
    progress bar, ``train(data, out, …)`` reporting through the same bar, one summary line."""
    import torch

    from modalities.lab_inputs import check_model_out

    minutes, steps = budget
    if minutes is None and steps is None:
        raise BadInputError("give a budget: --minutes or --steps")
    check_model_out(out, fmt)
    torch.set_num_threads(threads)
    progress = render.make_progress(render.err.is_terminal)
    task = progress.add_task(name, total=None)

    def report(stage: str, done: int, total: int) -> None:
        progress.update(task, description=f"{name} · {stage}", completed=done, total=total or None)

    with progress:
        loaded = []
        for k, item in enumerate(items, start=1):
            loaded.append(read(item))
            report(f"reading {what}", k, len(items))
        result = train(
            loaded, out, minutes=minutes, steps=steps, provenance=facts, progress=report, **options
        )
    render.out.print(
        f"trained on {len(loaded)} {what}: {result.steps} steps in "
        f"{result.seconds:.0f} s, loss {result.first_loss:.3f} -> {result.loss:.3f}; "
        f"wrote {render.safe(out)}"
    )


# ------------------------------------------------------------------------ verity lab translator

translator_app = typer.Typer(
    help="Image-to-image translator (CycleGAN-style encoder-decoder, CPU): pictures re-drawn.",
    no_args_is_help=True,
)
lab_app.add_typer(translator_app, name="translator")


@translator_app.command("train")
def translator_train_command(
    data: Annotated[
        list[Path], typer.Option("--data", help="Folder with manifest.csv or pictures; its reals.")
    ],
    out: ModelOut,
    minutes: Minutes = None,
    steps: Steps = None,
    seed: Seed = 0,
    batch: Annotated[int, typer.Option("--batch", min=1, max=256)] = 8,
    threads: Threads = 1,
) -> None:
    """Train the lab's image-to-image translator to re-draw the real pictures of the folders."""
    from core.training import read_picture
    from modalities import lab
    from modalities.visual.synthesis import translator

    sources = [s for folder in data for s in lab.find_sources(folder) if s.kind == "image"]
    if not sources:
        raise BadInputError("no real pictures in the --data folders")
    _train_lab_model(
        "translator", "real pictures", sources, lambda s: read_picture(s.path),
        translator.train, budget=(minutes, steps), threads=threads, out=out, fmt=translator.FORMAT,
        options={"batch": batch, "seed": seed},
        facts={"folders": [str(folder) for folder in data], "files": len(sources)},
    )  # fmt: skip
