"""``verity lab``: the red-team lab (fakes made to train and stress-test the detectors).

Every output is labelled synthetic at birth: a signed C2PA manifest (``c2pa.created``,
``trainedAlgorithmicMedia``, the lab's key under VERITY_HOME/keys/lab/) inside the file, and a
ledger leaf with ``synthetic: true`` and the generator, written before the file is published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from core.app import Verity
from core.cli import render
from core.config import load_settings
from core.errors import BadInputError

lab_app = typer.Typer(help="Red-team lab: make labelled fakes.", no_args_is_help=True)


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
            "--methods", help="Comma-separated: self_blend, upsample, copy_synthesis, gan."
        ),
    ] = "self_blend,upsample,copy_synthesis",
    case: Annotated[str | None, typer.Option("--case", "-c", help="Case to file fakes in.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    gan_model: Annotated[
        Path | None, typer.Option("--gan-model", help="Lab GAN model file (method gan).")
    ] = None,
) -> None:
    """Make fakes from real media, sign each with the lab's C2PA key and register it as synthetic.

    The manifest (media-dev format) feeds `verity eval --root OUT` and `verity train --data OUT`.
    """
    from modalities import lab
    from provenance import ledger
    from provenance.lab_credentials import sign_synthetic

    names = [m.strip() for m in methods.split(",") if m.strip()]
    if not names:
        raise BadInputError("--methods needs at least one method")
    settings = load_settings()
    verity = Verity.open(settings)

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

    progress = render.make_progress(render.err.is_terminal)
    task = progress.add_task("making fakes", total=None)

    def report(done: int, total: int) -> None:
        progress.update(
            task, completed=done, total=total, description=f"making fakes {done}/{total}"
        )

    with progress:
        fakes, manifest = lab.make_fakes(
            data, out, methods=names, limit=limit, seed=seed, label=label, register=register,
            progress=report, gan_model=gan_model,
        )  # fmt: skip
    counts: dict[str, int] = {}
    for fake in fakes:
        counts[fake.method] = counts.get(fake.method, 0) + 1
    summary = ", ".join(f"{n} {m}" for m, n in sorted(counts.items()))
    render.out.print(f"made {len(fakes)} fake(s) ({summary}), each C2PA-signed and registered")
    render.out.print(f"wrote {manifest}")


# ------------------------------------------------------------------------------- verity lab gan

gan_app = typer.Typer(
    help="GAN face generator (compact StyleGAN2, CPU, 64 px).", no_args_is_help=True
)
lab_app.add_typer(gan_app, name="gan")


def _labelling(case: str | None) -> tuple[Any, Any]:
    """The labeller and registrar every lab output goes through (C2PA, then the ledger)."""
    from provenance import ledger
    from provenance.lab_credentials import sign_synthetic

    settings = load_settings()
    verity = Verity.open(settings)

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


@gan_app.command("train")
def gan_train_command(
    data: Annotated[
        list[Path], typer.Option("--data", help="Folder of face photos; repeat for more.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write.")],
    minutes: Annotated[
        float | None, typer.Option("--minutes", min=0.01, help="Wall-clock budget.")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Step budget.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    batch: Annotated[int, typer.Option("--batch", min=2, max=256)] = 16,
    threads: Annotated[int, typer.Option("--threads", min=1, max=64)] = 1,
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

    from modalities.visual.synthesis import stylegan

    options = stylegan.TrainOptions(
        batch=batch, steps=steps, minutes=minutes, seed=seed, perceptual_weight=perceptual,
        snapshot_every_s=snapshot_minutes * 60 if snapshot_minutes else None,
    )  # fmt: skip
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
        f"{result.seconds:.0f} s ({result.images_per_s:.1f} images/s); wrote {out}"
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
    from modalities.visual.synthesis import stylegan

    torch.set_num_threads(1)
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
    render.out.print(f"wrote {manifest}")
