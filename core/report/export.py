"""Exporting a report: render, sign, write both files atomically, record the export in custody.

An export is a hand-off of evidence, so it is a custody event (``export``) carrying the report's
SHA-256, format, the canonical JSON's SHA-256, the signing key and the examiner, in the case's
chain. The report and its ``.sig`` are written to temporary files beside the target, fsynced,
and renamed into place inside the transaction that records the event: either both files exist
and the event is committed, or neither file is left behind and nothing is recorded.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.app import Verity
from core.canonical import canonical_json
from core.custody import Action, append_event
from core.errors import BadInputError, display_name, path_problem
from core.hooks import Hook, null_hook
from core.report.document import LedgerLookup, _no_ledger, build_report
from core.report.figures import ArtifactPath, _no_artifacts, report_figures
from core.report.html import render_html
from core.report.pdf import render_pdf
from core.report.signature import Signer, sha256_hex, sign_report

FORMATS = ("pdf", "html", "json")


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


def render(
    document: dict[str, Any], fmt: str, artifact_path: ArtifactPath = _no_artifacts
) -> tuple[bytes, bytes]:
    """The report's bytes in ``fmt`` and the canonical JSON they carry."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    json_bytes = canonical_json(document)
    if fmt == "json":
        return json_bytes, json_bytes
    figures = report_figures(document, artifact_path)
    if fmt == "html":
        return render_html(document, figures, sha256_hex(json_bytes)), json_bytes
    return render_pdf(document, figures, json_bytes, sha256_hex(json_bytes)), json_bytes


def signature_path(report: Path) -> Path:
    return report.with_name(report.name + ".sig")


def _check_target(out: Path) -> None:
    parent = out.parent
    if not parent.is_dir():
        raise BadInputError(f"{display_name(out)}: folder {display_name(parent)} does not exist")
    if out.exists() and path_problem(out) is not None:
        raise BadInputError(f"{display_name(out)}: {path_problem(out)}")
    if not os.access(parent, os.W_OK):
        raise BadInputError(f"{display_name(out)}: folder is not writable")


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
    hook("render", detail=fmt)
    data, json_bytes = render(document, fmt, artifact_path)
    hook("sign", detail=signer.key_id)
    signature = sign_report(data, fmt, json_bytes, signer)
    sig_path = signature_path(out)
    tmp_report = _write_temp(out.parent, data)
    tmp_sig: Path | None = None
    placed: list[Path] = []
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
            tmp_report.replace(out)
            placed.append(out)
            tmp_sig.replace(sig_path)
            placed.append(sig_path)
    except BaseException:
        for path in (tmp_report, tmp_sig, *placed):
            if path is not None:
                path.unlink(missing_ok=True)
        raise
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
    )
