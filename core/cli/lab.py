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
            "--methods",
            help="Comma-separated: self_blend, upsample, copy_synthesis, faceswap (needs a model).",
        ),
    ] = "self_blend,upsample,copy_synthesis",
    case: Annotated[str | None, typer.Option("--case", "-c", help="Case to file fakes in.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    faceswap_model: Annotated[
        Path | None, typer.Option("--faceswap-model", help="Model for --methods faceswap.")
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
            progress=report, faceswap_model=faceswap_model,
        )  # fmt: skip
    counts: dict[str, int] = {}
    for fake in fakes:
        counts[fake.method] = counts.get(fake.method, 0) + 1
    summary = ", ".join(f"{n} {m}" for m, n in sorted(counts.items()))
    render.out.print(f"made {len(fakes)} fake(s) ({summary}), each C2PA-signed and registered")
    render.out.print(f"wrote {manifest}")


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
    minutes: Annotated[
        float | None, typer.Option("--minutes", min=0.01, help="Wall-clock training budget.")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Training steps.")] = None,
    size: Annotated[int, typer.Option("--size", help="Crop side: 64, 96 or 128.")] = 64,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: Annotated[int, typer.Option("--threads", min=1, max=64)] = 1,
    fps: Annotated[
        float, typer.Option("--fps", min=0.1, help="Frames a second taken from videos.")
    ] = 10.0,
) -> None:
    """Train a shared-encoder / two-decoder swap model (deterministic for a seed with --steps)."""
    from modalities.visual.synthesis import faceswap

    if steps is None and minutes is None:
        raise BadInputError("give --steps, --minutes or both")
    if out.suffix.lower() != ".npz":
        raise BadInputError(f"{out}: the model file must end in .npz")
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
        f"-> {summary['loss']['last']:.3f}; wrote {out}"
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
        f"wrote {out}, C2PA-signed and registered as synthetic"
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
    from provenance import ledger
    from provenance.lab_credentials import sign_synthetic

    settings = load_settings()
    verity = Verity.open(settings)
    signed = sign_synthetic(
        payload, suffix, keys_dir=settings.keys_dir, title=generator["method"], generator=generator
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.part{out.suffix}")
    try:
        tmp.write_bytes(signed)
        ledger.register(
            verity, tmp, case, "verity lab output (synthetic)", original_name=out.name,
            synthetic=generator,
        )  # fmt: skip
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
