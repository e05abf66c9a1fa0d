"""Signed forensic reports: what was examined, how, with which tools and known error rates.

``build_report`` gathers the canonical document; ``render`` turns it into PDF, HTML or canonical
JSON; ``export_report`` signs and writes it and records the export in custody;
``verify_report`` checks a report and its detached signature with nothing but the files;
``check_media`` and ``reproduce`` compare a report with the evidence this installation holds.
Library code only: the CLI (``core/cli/report.py``) supplies the signing key and the ledger
lookup from ``provenance`` and renders the results.
"""

from core.report.document import REPORT_SCHEMA, build_report
from core.report.export import FORMATS, Exported, export_report, render, signature_path
from core.report.reproduce import check_media, reproduce
from core.report.signature import embedded_json, load_public_key, sign_report, verify_report

__all__ = [
    "FORMATS",
    "REPORT_SCHEMA",
    "Exported",
    "build_report",
    "check_media",
    "embedded_json",
    "export_report",
    "load_public_key",
    "render",
    "reproduce",
    "sign_report",
    "signature_path",
    "verify_report",
]
