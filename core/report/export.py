"""Exporting a report: render, sign, write both files atomically, record the export in custody.

An export is a hand-off of evidence, so it is a custody event (``export``) carrying the report's
SHA-256, format, the canonical JSON's SHA-256, the signing key and the examiner, in the case's
chain. Both targets (the report and its ``.sig``) are checked before anything is rendered; the
two files are written to temporary files beside the target, fsynced, and renamed into place
inside the transaction that records the event: either both files exist and the event is
committed, or nothing is recorded and the folder holds what it held before (an earlier report
and signature of the same name are kept aside and moved back; they are evidence already handed
over, and a failed export must never destroy them).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.app import Verity
from core.canonical import canonical_json, parse_untrusted_json
from core.custody import Action, append_event
from core.errors import BadInputError, VerificationError, display_name, path_problem
from core.hooks import Hook, null_hook
from core.report.document import REPORT_TYPE, LedgerLookup, _no_ledger, build_report
from core.report.figures import ArtifactPath, Figure, _no_artifacts, report_figures
from core.report.html import render_html
from core.report.pdf import render_pdf
from core.report.signature import (
    MAX_SIG_BYTES,
    Signer,
    embedded_json,
    parse_signature,
    sha256_hex,
    sign_report,
)

FORMATS = ("pdf", "html", "json")
MAX_REPLACED_BYTES = 512 * 1024 * 1024  # as ``verity verify-report`` reads a report


@dataclass(frozen=True)
class Exported:
    path: Path
    sig_path: Path
    format: str
    sha256: str
    json_sha256: str
    key_id: str
    case_id: str
    custody_seq: int
    exhibits: int
    analyses: int
    custody_problem: str | None = None  # the report states it too; the examiner must see it now
    figure_problems: tuple[str, ...] = ()  # cited figures gone or altered, left out (captioned)


def render(
    document: dict[str, Any], fmt: str, artifact_path: ArtifactPath = _no_artifacts
) -> tuple[bytes, bytes]:
    """The report's bytes in ``fmt`` and the canonical JSON they carry."""
    data, json_bytes, _figures = _render(document, fmt, artifact_path)
    return data, json_bytes


def _render(
    document: dict[str, Any], fmt: str, artifact_path: ArtifactPath
) -> tuple[bytes, bytes, list[Figure]]:
    """``render``, with the figures drawn (none for JSON, which carries no figures)."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    json_bytes = canonical_json(document)
    if fmt == "json":
        return json_bytes, json_bytes, []
    figures = report_figures(document, artifact_path)
    if fmt == "html":
        return render_html(document, figures, sha256_hex(json_bytes)), json_bytes, figures
    pdf = render_pdf(document, figures, json_bytes, sha256_hex(json_bytes))
    return pdf, json_bytes, figures


def _figure_problems(figures: list[Figure]) -> tuple[str, ...]:
    """One phrase per cited figure left out because it is gone or altered, for the examiner."""
    return tuple(
        f"{f.exhibit_id} {f.analysis_id[:12]} {f.title}: {f.caption}" for f in figures if f.damaged
    )


def signature_path(report: Path) -> Path:
    return report.with_name(report.name + ".sig")


def _check_target(out: Path) -> None:
    """Refuse, before anything is written, a target the report or its signature cannot replace.

    Why both: the signature is renamed into place after the report; a directory at ``.sig``
    found only then would fail the export after the report had already replaced the earlier one.
    A file already there is replaced only when it is an earlier Verity report (or a Verity
    report's signature): a rename ignores the file's own read-only mode, so ``-o`` naming an
    analyst's notes, an exhibit or the content store's working copy would destroy it.
    """
    parent = out.parent
    if not parent.is_dir():
        raise BadInputError(f"{display_name(out)}: folder {display_name(parent)} does not exist")
    for target, what in ((out, "report"), (signature_path(out), "report's signature")):
        if not target.exists():
            continue
        if problem := path_problem(target):
            raise BadInputError(f"{display_name(target)}: {problem}, cannot write the {what} there")
        if (problem := _not_replaceable(target, what)) is not None:
            raise BadInputError(
                f"{display_name(target)}: {problem}; not replacing it "
                "(move it away or choose another name)"
            )
    if not os.access(parent, os.W_OK):
        raise BadInputError(f"{display_name(out)}: folder is not writable")


def _not_replaceable(target: Path, what: str) -> str | None:
    """Why the existing file ``target`` is not an earlier Verity ``what``, or None if it is."""
    limit = MAX_SIG_BYTES if what != "report" else MAX_REPLACED_BYTES
    try:
        with target.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        return f"exists and cannot be read to check what it is ({exc.strerror or exc})"
    refusal = f"exists and is not a Verity {what}"
    if len(data) > limit:
        return refusal
    try:
        if what != "report":
            parse_signature(data)
            return None
        document = parse_untrusted_json(embedded_json(data))
    except (VerificationError, ValueError):
        return refusal
    if isinstance(document, dict) and document.get("report_type") == REPORT_TYPE:
        return None
    return refusal


def _write_temp(folder: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(dir=folder, prefix=".verity-report-", suffix=".tmp")
    path = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # a report is handed over: usual file permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _keep_aside(path: Path) -> Path | None:
    """A second name for the file at ``path`` until the export is committed, or None if none.

    Why a hard link: the target keeps its name throughout (``os.replace`` swaps it atomically),
    and the earlier report can be moved back whatever fails later, the database commit included.
    A copy stands in where the file system refuses links.
    """
    if not (path.exists() or path.is_symlink()):
        return None
    aside = path.with_name(f".verity-report-{secrets.token_hex(8)}.old")
    try:
        os.link(path, aside, follow_symlinks=False)
    except OSError:
        try:
            shutil.copy2(path, aside, follow_symlinks=False)
        except BaseException:
            aside.unlink(missing_ok=True)
            raise
    return aside


def _place(tmp: Path, target: Path, placed: list[tuple[Path, Path | None]]) -> None:
    """Rename ``tmp`` onto ``target``, noting in ``placed`` how to undo it."""
    aside = _keep_aside(target)
    try:
        tmp.replace(target)
    except BaseException:
        if aside is not None:
            aside.unlink(missing_ok=True)  # the target was not touched
        raise
    placed.append((target, aside))


def _put_back(placed: list[tuple[Path, Path | None]]) -> None:
    """Undo ``_place``: the earlier files return, files that were not there before go.

    A file that cannot be moved back stays under its hidden name rather than being lost.
    """
    for target, aside in reversed(placed):
        with contextlib.suppress(OSError):
            if aside is None:
                target.unlink(missing_ok=True)
            else:
                aside.replace(target)


def export_report(
    app: Verity,
    ref: str,
    fmt: str,
    out: Path,
    signer: Signer,
    *,
    examiner: str | None = None,
    ledger_lookup: LedgerLookup = _no_ledger,
    artifact_path: ArtifactPath = _no_artifacts,
    hook: Hook = null_hook,
) -> Exported:
    """Build, render, sign and write the report for a case or analysis; record the export."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    _check_target(out)
    document = build_report(app, ref, examiner=examiner, ledger_lookup=ledger_lookup, hook=hook)
    document["signing_key_id"] = signer.key_id  # loaded (or made) only once the report is built
    hook("render", detail=fmt)
    data, json_bytes, figures = _render(document, fmt, artifact_path)
    hook("sign", detail=signer.key_id)
    signature = sign_report(data, fmt, json_bytes, signer)
    sig_path = signature_path(out)
    tmp_report = _write_temp(out.parent, data)
    tmp_sig: Path | None = None
    placed: list[tuple[Path, Path | None]] = []
    try:
        tmp_sig = _write_temp(out.parent, canonical_json(signature) + b"\n")
        hook("record", detail=document["case"]["id"][:12])
        with app.db.session() as session:
            event = append_event(
                session,
                actor=app.settings.actor,
                action=Action.EXPORT,
                case_id=document["case"]["id"],
                object_sha256=signature["signed_sha256"],
                details={
                    "what": "report",
                    "format": fmt,
                    "report_sha256": signature["signed_sha256"],
                    "canonical_json_sha256": signature["embedded_json_sha256"],
                    "key_id": signer.key_id,
                    "examiner": document["examiner"],
                    "file_name": display_name(out.name),
                    "exhibits": [e["sha256"] for e in document["exhibits"]],
                    "analysis_ids": [
                        a["analysis_id"] for e in document["exhibits"] for a in e["analyses"]
                    ],
                },
            )
            seq = event.seq
            _place(tmp_report, out, placed)
            _place(tmp_sig, sig_path, placed)
    except BaseException:
        _put_back(placed)
        for path in (tmp_report, tmp_sig):
            if path is not None:
                path.unlink(missing_ok=True)
        raise
    for _target, aside in placed:
        if aside is not None:
            with contextlib.suppress(OSError):  # committed: a stray hidden copy is no failure
                aside.unlink()
    return Exported(
        path=out,
        sig_path=sig_path,
        format=fmt,
        sha256=signature["signed_sha256"],
        json_sha256=signature["embedded_json_sha256"],
        key_id=signer.key_id,
        case_id=document["case"]["id"],
        custody_seq=seq,
        exhibits=len(document["exhibits"]),
        analyses=sum(len(e["analyses"]) for e in document["exhibits"]),
        custody_problem=document["custody"]["verification"]["problem"],
        figure_problems=_figure_problems(figures),
    )
