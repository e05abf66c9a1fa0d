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
        typer.Option("--methods", help="Comma-separated: self_blend, upsample, copy_synthesis."),
    ] = "self_blend,upsample,copy_synthesis",
    case: Annotated[str | None, typer.Option("--case", "-c", help="Case to file fakes in.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
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
            progress=report,
        )  # fmt: skip
    counts: dict[str, int] = {}
    for fake in fakes:
        counts[fake.method] = counts.get(fake.method, 0) + 1
    summary = ", ".join(f"{n} {m}" for m, n in sorted(counts.items()))
    render.out.print(f"made {len(fakes)} fake(s) ({summary}), each C2PA-signed and registered")
    render.out.print(f"wrote {manifest}")
