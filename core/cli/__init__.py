"""The ``verity`` command line: a composition root that renders what core.services return.

Exit codes are a contract: 0 success, 1 internal error, 2 bad input (one line on stderr naming the
file or id and the problem), 3 verification failed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

import modalities  # registers the built-in detectors (composition root)
from core import __version__, casefile, services
from core.app import Verity, upgrade_database
from core.calibration import CalibrationStore
from core.cli import dashboard, evaluate, jobs, lab, ledger, render, report
from core.config import Settings, load_settings
from core.db import database_failure
from core.detector import REGISTRY
from core.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_VERIFICATION_FAILED,
    BadInputError,
    MediaError,
    VerityError,
    display_name,
)
from core.outputs import folder_problem
from core.training import check_output

app = typer.Typer(
    name="verity",
    help="Verity: deepfake analysis with a tamper-evident chain of custody.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
case_app = typer.Typer(help="Create, list and show cases.", no_args_is_help=True)
detectors_app = typer.Typer(help="Registered detectors.", no_args_is_help=True)
custody_app = typer.Typer(help="The chain of custody.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Effective settings.", no_args_is_help=True)
for sub, name in (
    (case_app, "case"),
    (detectors_app, "detectors"),
    (custody_app, "custody"),
    (db_app, "db"),
    (config_app, "config"),
):
    app.add_typer(sub, name=name)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
CaseOpt = Annotated[str | None, typer.Option("--case", "-c", help="Case id or name.")]


def _open() -> Verity:
    return Verity.open(load_settings())


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"verity {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Verity: deepfake analysis with a tamper-evident chain of custody."""


# ------------------------------------------------------------------------------------------ cases


@case_app.command("new")
def case_new(
    name: str,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a case (recorded as the first event of its custody chain)."""
    verity = _open()
    case = services.create_case(verity, name, description)
    if as_json:
        render.print_json_line(case)
    else:
        render.out.print(f"created case [bold]{render.safe(case['name'])}[/] id {case['id']}")


@case_app.command("list")
def case_list(as_json: JsonOpt = False) -> None:
    """List cases with their number of media items."""
    cases = services.list_cases(_open())
    if as_json:
        for case in cases:
            render.print_json_line(case)
        return
    table = Table(title="Cases")
    for column in ("id", "name", "media", "created", "by"):
        table.add_column(column)
    for c in cases:
        table.add_row(
            c["id"],
            render.safe(c["name"]),
            str(c["media_count"]),
            c["created_at"],
            render.safe(c["created_by"]),
        )
    render.out.print(table)


@case_app.command("show")
def case_show(
    case: Annotated[str, typer.Argument(help="Case id or name.")],
    last: Annotated[
        int, typer.Option("--last", min=0, help="Custody events to print, newest last (0: all).")
    ] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Show a case: its media, each analysis's verdict, and the custody log with its check.

    Opening the case is recorded first, as a ``view`` event in its custody chain; exit 3 if the
    chain does not verify. With --json, one object: the case, its media with their analyses in
    the ``verity show --json`` form, every custody event and the verification.
    """
    verity = _open()
    data = casefile.open_case_file(verity, case.strip(), via="cli", detail=False)
    check = casefile.verify_case_custody(verity, data["case"]["id"])
    data["custody_verification"] = check
    if as_json:
        render.print_json_line(data)
    else:
        render.case_detail(data, last)
    if not check["ok"]:
        raise typer.Exit(EXIT_VERIFICATION_FAILED)


# ---------------------------------------------------------------------------- ingest and analyze


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Media files to file in the case.")],
    case: Annotated[str, typer.Option("--case", "-c", help="Case id or name.")],
    as_json: JsonOpt = False,
) -> None:
    """Hash, store and file media in a case, each with a custody event."""
    verity = _open()
    failures = 0
    with render.make_progress(not as_json and render.err.is_terminal) as progress:
        for path in map(Path, paths):  # plain strings: Verity, not the parser, judges files
            hook = render.ProgressHook(progress, display_name(path.name))
            try:
                item = services.ingest(verity, path, case, hook)
            except VerityError as exc:
                if exc.exit_code != EXIT_BAD_INPUT:
                    raise  # a damaged store or database is not one bad file among good ones
                failures += 1
                _print_error(exc)
                continue
            record = {
                "media_id": item.media_id,
                "sha256": item.sha256,
                "kind": item.info.kind.value,
                "case_id": item.case_id,
                "original_name": item.original_name,
                "new_in_case": item.new_in_case,
            }
            if as_json:
                render.print_json_line(record)
            else:
                state = "filed" if item.new_in_case else "already in case"
                name = render.safe(item.original_name)
                render.out.print(f"{state}: {name} sha256 {item.sha256}")
    if failures:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def analyze(
    paths: Annotated[list[str], typer.Argument(help="Video, audio or image files.")],
    case: CaseOpt = None,
    detectors: Annotated[
        str | None, typer.Option("--detectors", "-d", help="Comma-separated detector names.")
    ] = None,
    model_dir: Annotated[
        list[str] | None,
        typer.Option(
            "--model-dir",
            help="NAME=DIR: a local Hugging Face checkpoint for visual.hf or audio.hf "
            "(repeatable; never downloaded).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyse media: ingest, run detectors, fuse, store, and print the verdict.

    With --json, one JSON object per file (JSON Lines) on stdout.
    """
    names = [n.strip() for n in detectors.split(",") if n.strip()] if detectors else None
    if detectors is not None and not names:
        raise BadInputError("--detectors needs at least one name")
    model_dirs = _model_dirs(model_dir or [])
    verity = _open()
    if names:
        for name in names:
            verity.registry.spec(name)
    services.detector_options(verity, model_dirs, names)  # fails before anything is stored
    results = []
    failures = 0
    with render.make_progress(render.err.is_terminal) as progress:
        for path in map(Path, paths):
            hook = render.ProgressHook(progress, display_name(path.name))
            try:
                result = services.analyze(verity, path, case, names, hook, model_dirs)
            except VerityError as exc:
                if exc.exit_code != EXIT_BAD_INPUT:
                    raise
                failures += 1
                _print_error(exc)
                continue
            if as_json:
                render.print_json_line(result)
            results.append(result)
    if results and not as_json:
        render.out.print(render.analyses_table(results))
    if failures:
        raise typer.Exit(EXIT_BAD_INPUT)


def _model_dirs(pairs: list[str]) -> dict[str, Path]:
    out = {}
    for pair in pairs:
        name, sep, folder = pair.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise BadInputError(f"--model-dir {pair!r}: expected NAME=DIR, e.g. visual.hf=./vit")
        out[name.strip()] = Path(folder.strip()).expanduser()
    return out


@app.command()
def show(analysis_id: str, as_json: JsonOpt = False) -> None:
    """Show a stored analysis (the read is recorded in the case's custody chain)."""
    result = services.get_analysis(_open(), analysis_id.strip(), via="cli")
    if as_json:
        render.print_json_line(result)
    else:
        render.analysis_detail(result)


@app.command()
def artifacts(
    analysis_id: str,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to copy the figures into.")],
) -> None:
    """Copy an analysis's figures (heatmaps, spectrograms), each checked against its SHA-256."""
    if problem := folder_problem(out):  # before the read is recorded
        raise MediaError(out, problem)
    found = services.analysis_artifacts(_open(), analysis_id.strip(), via="cli-artifacts")
    if not found:
        render.out.print("this analysis cites no figures")
        return
    try:
        _copy_figures(found, out)
    except OSError as exc:
        raise MediaError(out, f"cannot be written ({exc.strerror or exc})") from None


def _copy_figures(found: list[services.StoredArtifact], out: Path) -> None:
    """Copy each checked figure under a name that says what it is; a copy appears whole or not."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    for item in found:
        suffix = {"image/png": ".png", "image/jpeg": ".jpg", "text/csv": ".csv"}.get(
            item.media_type, ".json"
        )
        target = out / f"{item.detector}.{item.kind}.{item.sha256[:12]}{suffix}"
        tmp = target.with_name(target.name + ".part")
        try:
            shutil.copyfile(item.path, tmp)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        typer.echo(f"{target}  sha256:{item.sha256}")


# -------------------------------------------------------------------------------------- detectors


@detectors_app.command("list")
def detectors_list(as_json: JsonOpt = False) -> None:
    """List registered detectors with their version, inputs and calibration."""
    store = CalibrationStore(load_settings().home)
    specs, calibrations = [], {}
    for spec in REGISTRY.specs():
        # the registry's specs say what a detector is built with; the calibration in force is
        # found as `detectors show` and every analysis find it (it read "calibrated: false")
        in_force = {kind: cal.version for kind, (_, cal) in store.in_force(spec).items()}
        if in_force:
            first = next(iter(in_force.values()))
            spec = spec.model_copy(update={"calibrated": True, "calibration_version": first})
        specs.append(spec)
        calibrations[spec.name] = in_force
    if as_json:
        for spec in specs:
            render.print_json_line(
                {**spec.model_dump(mode="json"), "calibrations": calibrations[spec.name]}
            )
    else:
        render.out.print(render.detectors_table(specs, calibrations))


# ---------------------------------------------------------------------------------------- custody


@custody_app.command("verify")
def custody_verify(case: CaseOpt = None) -> None:
    """Recompute the custody chains; exit 3 naming the first broken event."""
    report = services.check_custody(_open(), case)
    render.out.print(
        f"custody intact: {report.events} events in {report.chains} chain(s)"
        + (f" (case {case})" if case else "")
    )
    for chain, head in sorted(report.heads.items()):
        render.out.print(f"  {chain}  head {head}")


# ------------------------------------------------------------------------- evaluation, calibration

app.command("eval")(evaluate.eval_command)
app.command("calibrate")(evaluate.calibrate_command)
detectors_app.command("show")(evaluate.show_command)
detectors_app.command("card")(evaluate.card_command)

# ------------------------------------------------------------------------------------ provenance

app.command("register")(ledger.register_command)
app.command("receipt")(ledger.receipt_command)
app.command("verify-receipt")(ledger.verify_receipt_command)
app.command("hash")(ledger.hash_command)
app.command("lookup")(ledger.lookup_command)
app.command("c2pa")(ledger.c2pa_command)
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(ledger.keys_app, name="keys")
app.add_typer(ledger.chain_app, name="chain")
report.register(app)  # report, verify-report, reproduce
dashboard.register(app)  # verity dashboard, verity users
jobs.register(app)  # worker, submit, jobs
app.add_typer(lab.lab_app, name="lab")  # verity lab make-fakes


@app.command()
def train(
    name: Annotated[str, typer.Argument(help="Detector to train, e.g. audio.lfcc_gmm.")],
    data: Annotated[
        list[Path], typer.Option("--data", help="Folder with manifest.csv; repeat for more.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where weights go (default: the shipped folder).")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64)] = 2,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    extra_fakes: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra-fakes",
            help="visual.spectrum / visual.blend / lipsync.syncnet: folder of generator fakes "
            "(manifest).",
        ),
    ] = None,
    init: Annotated[
        Path | None, typer.Option("--init", help="visual.blend: weights folder to start from.")
    ] = None,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="visual.blend: training steps.")
    ] = None,
    pseudo: Annotated[
        str | None,
        typer.Option(
            "--pseudo",
            help="audio.cnn / audio.lfcc_gmm: comma-separated pseudo-fake methods made from the "
            "unlabelled reals: griffin_lim, lpc_vocoder, phase_vocoder, neural_vocoder, TTS "
            "espeak_ng, flite, festival_hts, festival_diphone (audio.cnn default: the three copy "
            "synthesis methods; audio.lfcc_gmm: none); neural_vocoder needs --vocoder-model.",
        ),
    ] = None,
    vocoder_model: Annotated[
        Path | None,
        typer.Option("--vocoder-model", help="Lab vocoder file (verity lab vocoder train)."),
    ] = None,
) -> None:
    """Train a detector's weights, validate on held-out generators, calibrate, write its card."""
    if name not in modalities.TRAINERS:
        known = ", ".join(sorted(modalities.TRAINERS)) or "none"
        raise BadInputError(f"no training recipe for {name!r}; recipes: {known}")
    recipe, shipped = modalities.TRAINERS[name]
    if extra_fakes and name not in ("visual.spectrum", "visual.blend", "lipsync.syncnet"):
        raise BadInputError(
            f"--extra-fakes: {name} does not take extra fakes "
            "(visual.spectrum, visual.blend and lipsync.syncnet do)"
        )
    if extra_fakes and name == "lipsync.syncnet" and out is None:
        raise BadInputError("--extra-fakes needs --out for lipsync.syncnet: shipped weights stay")
    if (init or steps) and name != "visual.blend":
        raise BadInputError("--init and --steps are for visual.blend only")
    extra: dict[str, Any] = {}
    if pseudo is not None:
        if name not in ("audio.cnn", "audio.lfcc_gmm"):
            raise BadInputError("--pseudo is for audio.cnn and audio.lfcc_gmm only")
        extra["pseudo"] = [m.strip() for m in pseudo.split(",") if m.strip()]
    if vocoder_model is not None:
        if name not in ("audio.cnn", "audio.lfcc_gmm"):
            raise BadInputError("--vocoder-model is for audio.cnn and audio.lfcc_gmm only")
        extra["vocoder_model"] = vocoder_model
    if extra_fakes:
        extra["extra_fakes"] = extra_fakes
    if name == "visual.blend" and (extra_fakes or init or steps):  # fine-tuning with lab fakes
        if out is None:
            raise BadInputError("--extra-fakes/--init/--steps need --out: shipped weights stay")
        extra.update(init=init, config={"steps": steps} if steps else None)
    target = out or shipped
    check_output(target, name)  # before any work: a bad --out must not cost a training run
    progress = render.make_progress(render.err.is_terminal)
    task = progress.add_task(name, total=None)

    def report(step: str, done: int, total: int) -> None:
        progress.update(task, description=f"{name} · {step}", completed=done, total=total)

    with progress:
        validation = recipe(
            folders=data, out=target, jobs=jobs, seed=seed, progress=report, **extra
        )
    render.out.print(
        f"trained {name}: held-out validation AUC {validation['auc']:.3f}, "
        f"EER {validation['eer']:.3f} on {validation['n_real']} real + "
        f"{validation['n_fake']} fake files; wrote {target}"
    )


# ------------------------------------------------------------------------------- db, config, demo


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database schema to this version of Verity."""
    render.out.print(f"database at revision {upgrade_database(load_settings())}")


@config_app.command("show")
def config_show(as_json: JsonOpt = False) -> None:
    """Print the effective settings with secrets masked."""
    data = load_settings().masked()
    if as_json:
        render.print_json_line(data)
        return
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                render.out.print(f"{key}.{sub} = {render.safe(item)}")
        else:
            render.out.print(f"{key} = {render.safe(value)}")


@app.command()
def demo(
    workdir: Annotated[
        Path | None, typer.Option("--dir", help="Where to write the generated samples.")
    ] = None,
) -> None:
    """Make sample media, analyse it end to end in a 'demo' case and verify the custody chain."""
    from core.samples import write_clip, write_photo, write_tone

    settings: Settings = load_settings()
    verity = Verity.open(settings)
    target = workdir or settings.home / "demo-samples"
    target.mkdir(parents=True, exist_ok=True)
    render.out.print(f"[bold]1.[/] making samples in {render.safe(target)}")
    samples = [
        write_photo(target / "astronaut.jpg"),
        write_clip(target / "talking-face.mp4"),
        write_tone(target / "tone.wav"),
    ]
    if services.list_cases(verity) and any(
        c["name"] == "demo" for c in services.list_cases(verity)
    ):
        render.out.print("[bold]2.[/] case 'demo' exists; adding to it")
    else:
        services.create_case(verity, "demo", "samples made by `verity demo`")
        render.out.print("[bold]2.[/] created case 'demo'")
    render.out.print("[bold]3.[/] hashing, storing and analysing")
    results = []
    with render.make_progress(render.err.is_terminal) as progress:
        for path in samples:
            results.append(
                services.analyze(
                    verity, path, "demo", None, render.ProgressHook(progress, path.name)
                )
            )
    render.out.print(render.analyses_table(results))
    report = services.check_custody(verity, "demo")
    render.out.print(f"[bold]4.[/] custody chain of case 'demo' intact: {report.events} events")
    render.out.print(
        f"data lives in {settings.home}: database {settings.effective_database_url}, "
        f"objects in {settings.objects_dir}"
    )
    render.out.print(f"next: verity show {results[0]['analysis_id'][:12]}")


# ------------------------------------------------------------------------------------ entry point


def _print_error(exc: VerityError) -> None:
    message = " ".join(str(exc).split())  # one line, whatever the message held
    render.err.print(f"verity: error: {message}", markup=False)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and exit with) the contract's exit code."""
    try:
        app(args=argv, prog_name="verity")  # standalone: usage errors exit 2, --help exits 0
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except VerityError as exc:
        _print_error(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        render.err.print("verity: interrupted")
        code = 130
    except SQLAlchemyError as exc:  # read-only, full or gone mid-command: the driver's words
        if os.environ.get("VERITY_DEBUG"):
            raise
        failure = database_failure(exc)
        _print_error(failure)
        code = failure.exit_code
    except Exception as exc:  # the last line of defence: no traceback unless asked for
        if os.environ.get("VERITY_DEBUG"):
            raise
        render.err.print(
            f"verity: internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:500]} "
            "(set VERITY_DEBUG=1 for a traceback)",
            markup=False,
        )
        code = EXIT_INTERNAL
    code = code if isinstance(code, int) else 0
    if argv is None:
        sys.exit(code)
    return code
