"""Signed report export for the case file page (a composition root, like the CLI).

The report module (``core.report``) never touches keys or the ledger itself; here the dashboard
hands it the installation's report key and the ledger lookup, exactly as ``verity report`` does,
and returns one download: a zip holding the report and its detached signature, because a report
without its ``.sig`` cannot be verified by the second person.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from core.app import Verity
from core.report import export_report
from provenance.keys import KeyRing, LazySigningKey
from provenance.status import ledger_summary

SUFFIX = {"pdf": ".pdf", "html": ".html", "json": ".json"}


def export_signed_report(app: Verity, ref: str, fmt: str) -> tuple[str, bytes, str, list[str]]:
    """(file name, bytes, media type) of a zip with REPORT and REPORT.sig, and what the examiner
    must hear now (a custody chain that does not verify, figures gone or altered: the report
    states them too); records the export."""
    key = LazySigningKey(KeyRing(app.settings.keys_dir, purpose="report"))
    stem = f"verity-report-{ref[:12]}"
    with tempfile.TemporaryDirectory(prefix="verity-report-") as tmp:
        out = Path(tmp) / f"{stem}{SUFFIX.get(fmt, '.' + fmt)}"
        result = export_report(
            app,
            ref,
            fmt,
            out,
            key,
            examiner=app.settings.actor,
            ledger_lookup=lambda sha: ledger_summary(app, sha),
            artifact_path=app.artifact_store.path_for,
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(result.path, result.path.name)
            archive.write(result.sig_path, result.sig_path.name)
    warnings = []
    if result.custody_problem is not None:
        warnings.append(f"The case's custody chain does not verify: {result.custody_problem}")
    if result.figure_problems:
        warnings.append(
            f"{len(result.figure_problems)} figure(s) left out of the report, as their captions "
            "say: " + "; ".join(result.figure_problems)
        )
    return f"{stem}-{fmt}.zip", buffer.getvalue(), "application/zip", warnings
