"""``verity report / verify-report / reproduce``: signed forensic reports on the command line.

This module is part of the composition root: it takes the report-signing key from
``provenance.keys`` and the ledger receipt from ``provenance.ledger`` and hands both to
``core.report``, which never imports ``provenance`` itself.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import typer

from core.app import Verity
from core.canonical import parse_untrusted_json
from core.cli import render
from core.config import load_settings
from core.errors import (
    EXIT_VERIFICATION_FAILED,
    BadInputError,
    MediaError,
    display_name,
    path_problem,
)
from core.report import (
    FORMATS,
    check_media,
    embedded_json,
    export_report,
    load_public_key,
    reproduce,
    signature_path,
    verify_report,
)
from core.report.reproduce import FUSION, MEDIA, report_problem
from core.report.signature import Check, sha256_hex
from core.store import ContentStore
from provenance.keys import KeyRing, LazySigningKey
from provenance.status import ledger_summary

MAX_REPORT_BYTES = 512 * 1024 * 1024


def _read(path: Path, what: str) -> bytes:
    if problem := path_problem(path):
        raise MediaError(path, f"{what}: {problem}")
    if path.stat().st_size > MAX_REPORT_BYTES:
        raise MediaError(path, f"{what}: larger than {MAX_REPORT_BYTES} bytes")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MediaError(path, f"{what} cannot be read ({exc.strerror or exc})") from None


def _print_checks(checks: list[Check]) -> None:
    for check in checks:
        mark = "[green]ok[/]  " if check.ok else "[bold red]FAIL[/]"
        render.out.print(f"{mark} {check.name}: {render.safe(check.detail)}", highlight=False)


def report_command(
    ref: Annotated[str, typer.Argument(help="Case id or name, or analysis id (8+ hex prefix).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the report.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="pdf, html or json.")] = "pdf",
    examiner: Annotated[
        str | None, typer.Option("--examiner", help="Who signs (default: the configured actor).")
    ] = None,
) -> None:
    """Write a signed forensic report (and REPORT.sig); the export is a custody event."""
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        raise BadInputError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    settings = load_settings()
    verity = Verity.open(settings)
    key = LazySigningKey(KeyRing(settings.keys_dir, purpose="report"))
    artifacts = ContentStore(settings.artifacts_dir)
    started = time.perf_counter()
    with render.make_progress(render.err.is_terminal) as progress:
        hook = render.ProgressHook(progress, display_name(ref)[:24])
        result = export_report(
            verity,
            ref,
            fmt,
            output,
            key,
            examiner=examiner,
            ledger_lookup=lambda sha: ledger_summary(verity, sha),
            artifact_path=artifacts.path_for,
            hook=hook,
        )
    elapsed = time.perf_counter() - started
    render.out.print(
        f"wrote {render.safe(result.path)} ({fmt}, {result.exhibits} exhibit(s), "
        f"{result.analyses} analysis(es)) sha256 {result.sha256} in {elapsed:.1f} s"
    )
    render.out.print(
        f"signature {render.safe(result.sig_path)} by report key {result.key_id}; "
        f"export recorded as custody event #{result.custody_seq} of case {result.case_id}"
    )
    if result.custody_problem is not None:  # signed as found, and said where it will be seen
        render.err.print(
            "verity: warning: the case's custody chain does not verify, as the report states: "
            + " ".join(result.custody_problem.split()),
            markup=False,
        )
    if result.figure_problems:  # captioned in the report; the examiner hears of it now
        render.err.print(
            f"verity: warning: {len(result.figure_problems)} figure(s) left out of the report, "
            "as their captions say: " + "; ".join(result.figure_problems),
            markup=False,
            soft_wrap=True,
        )


def verify_report_command(
    report: Annotated[Path, typer.Argument(help="A report written by `verity report`.")],
    sig: Annotated[
        Path | None, typer.Option("--sig", help="Detached signature (default: REPORT.sig).")
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="The examiner's report key: hex, PEM, or a file."),
    ] = None,
    media: Annotated[
        bool,
        typer.Option("--check-media", help="Also check the media hashes against this store."),
    ] = False,
) -> None:
    """Check a report offline with only the report, its .sig and the public key; exit 3 if not."""
    pinned = load_public_key(public_key) if public_key is not None else None
    data = _read(report, "report")
    sig_data = _read(sig or signature_path(report), "signature")
    checks, document = verify_report(data, sig_data, pinned)
    if media and document is not None:
        if (problem := report_problem(document)) is not None:  # signed, perhaps by anyone's key
            raise BadInputError(f"{display_name(report)}: not a Verity report ({problem})")
        checks += check_media(Verity.open(load_settings()), document, sha256_hex(data))
    _print_checks(checks)
    failed = [c for c in checks if not c.ok]
    if failed:
        names = ", ".join(dict.fromkeys(c.name for c in failed))
        render.err.print(f"verity: report verification failed: {names}", markup=False)
        raise typer.Exit(EXIT_VERIFICATION_FAILED)
    if pinned is None:
        render.err.print(
            "verity: warning: no --public-key given; the signer key was taken from the "
            "signature file itself",
            markup=False,
        )
    render.out.print("report valid")


def reproduce_command(
    report: Annotated[Path, typer.Argument(help="A report written by `verity report`.")],
    tolerance: Annotated[
        float, typer.Option("--tolerance", min=0.0, help="Largest score difference accepted.")
    ] = 1e-6,
) -> None:
    """Re-run the report's detectors on the stored media and fuse them again; exit 3 naming
    each difference (a score, or an analysis' verdict or p_fake)."""
    if not math.isfinite(tolerance):  # inf passes click's min=0 and would accept any score
        raise BadInputError(f"--tolerance must be a finite number, not {tolerance:g}")
    data = _read(report, "report")
    sig_path = signature_path(report)
    signed = sig_path.is_file()
    if signed:  # never reproduce from a report that was altered after signing
        checks, verified = verify_report(data, _read(sig_path, "signature"))
        if verified is None:
            _print_checks(checks)
            render.err.print(
                "verity: the report does not match its signature; not reproducing", markup=False
            )
            raise typer.Exit(EXIT_VERIFICATION_FAILED)
        render.out.print(f"signature valid ({render.safe(checks[1].detail)})", highlight=False)
    try:
        document = parse_untrusted_json(embedded_json(data))
    except ValueError as exc:
        raise BadInputError(f"{display_name(report)}: not a Verity report ({exc})") from None
    if (problem := report_problem(document)) is not None:  # before anything runs or is recorded
        raise BadInputError(f"{display_name(report)}: not a Verity report ({problem})")
    if not signed:
        render.err.print(
            f"verity: warning: {display_name(sig_path.name)} not found; "
            "the report's signature is not checked",
            markup=False,
        )
    verity = Verity.open(load_settings())
    with render.make_progress(render.err.is_terminal) as progress:
        hook = render.ProgressHook(progress, "reproduce")
        comparisons = reproduce(verity, document, tolerance=tolerance, hook=hook)
    for c in comparisons:
        if c.detector == MEDIA:
            render.out.print(
                f"[bold red]NOT RUN[/] {c.exhibit}: {render.safe(c.detail)}", highlight=False
            )
            continue
        mark = "[green]same[/]" if c.ok else "[bold red]DIFF[/]"
        render.out.print(
            f"{mark} {c.exhibit} {c.analysis_id[:12]} {c.detector}: {render.safe(c.detail)}",
            highlight=False,
        )
    unread = sum(c.detector == MEDIA for c in comparisons)
    results = [c for c in comparisons if c.detector != MEDIA]
    different = sum(not c.ok for c in results)
    if unread or different:
        said = [f"{different} of {len(results)} result(s) differ"] if results else []
        if unread:
            said.append(f"{unread} exhibit(s) could not be re-run")
        render.err.print(f"verity: {'; '.join(said)}", markup=False)
        raise typer.Exit(EXIT_VERIFICATION_FAILED)
    fused = sum(c.detector == FUSION for c in comparisons)
    render.out.print(
        f"reproduced: {len(comparisons) - fused} detector result(s) and {fused} fused "
        "verdict(s) match"
    )


def register(app: typer.Typer) -> None:
    """Add the report commands to the root CLI."""
    app.command("report")(report_command)
    app.command("verify-report")(verify_report_command)
    app.command("reproduce")(reproduce_command)
