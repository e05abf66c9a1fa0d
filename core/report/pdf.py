"""The PDF rendering (reportlab), with the canonical JSON attached as an embedded file.

The PDF is what an analyst hands over; the attached ``verity-report.json`` (a standard PDF file
attachment, listed by any viewer and by ``pdfdetach``) is the signed document it shows, so the PDF
alone carries everything ``verity verify-report`` and ``verity reproduce`` need. Text is set in
DejaVu Sans from matplotlib's data folder (offline, and covers the Unicode a hostile file name can
hold); every string from the evidence is XML-escaped before reportlab's paragraph markup sees it,
and shown as its escape where it would act or mislead instead of being read (``_shown``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from core.detector import options_text
from core.errors import VerificationError
from core.report import view
from core.report.figures import Figure

ATTACHMENT_NAME = "verity-report.json"
_MARK = b"/VerityReport /canonical-json-v1"
# The marker is the stream dictionary's last key (keys are written sorted), so the dictionary
# closes and the stream begins right after it; no printable metadata can hold that line break.
_ATTACHMENT = re.compile(re.escape(_MARK) + rb"\s*>>\s*stream\r?\n([0-9a-fA-F\s]*)>\s*endstream")
MAX_CELL_CHARS = 1500  # a table row cannot break across pages: longer text is in the JSON
_FONTS = {
    "VSans": "DejaVuSans.ttf",
    "VSans-Bold": "DejaVuSans-Bold.ttf",
    "VMono": "DejaVuSansMono.ttf",
}


def _register_fonts() -> None:
    import matplotlib
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "VSans" in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name, file in _FONTS.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    addMapping("VSans", 0, 0, "VSans")
    addMapping("VSans", 1, 0, "VSans-Bold")


def _attach_json(canvas: Any, data: bytes) -> None:
    """Add ``data`` to the document catalog as the embedded file ``verity-report.json``."""
    from reportlab.pdfbase import pdfdoc

    doc = canvas._doc
    if getattr(doc.Catalog, "Names", None) is not None:
        return
    stream = pdfdoc.PDFStream(
        pdfdoc.PDFDictionary(
            {
                "Type": pdfdoc.PDFName("EmbeddedFile"),
                "Subtype": "/application#2Fjson",
                "Filter": pdfdoc.PDFName("ASCIIHexDecode"),
                "VerityReport": pdfdoc.PDFName("canonical-json-v1"),
            }
        ),
        content=data.hex().encode("ascii") + b">",
        filters=[],
    )
    filespec = pdfdoc.PDFDictionary(
        {
            "Type": pdfdoc.PDFName("Filespec"),
            "F": pdfdoc.PDFString(ATTACHMENT_NAME),
            "UF": pdfdoc.PDFString(ATTACHMENT_NAME),
            "Desc": pdfdoc.PDFString("Verity report: the signed canonical JSON"),
            "EF": pdfdoc.PDFDictionary({"F": doc.Reference(stream)}),
        }
    )
    doc.Catalog.Names = pdfdoc.PDFDictionary(
        {
            "EmbeddedFiles": pdfdoc.PDFDictionary(
                {
                    "Names": pdfdoc.PDFArray(
                        [pdfdoc.PDFString(ATTACHMENT_NAME), doc.Reference(filespec)]
                    )
                }
            )
        }
    )


def extract_json(pdf: bytes) -> bytes:
    """The canonical JSON attached to a Verity PDF report."""
    found = _ATTACHMENT.findall(pdf)
    if len(found) != 1:
        raise VerificationError("the PDF report does not carry exactly one attached canonical JSON")
    try:
        return bytes.fromhex(re.sub(rb"\s", b"", found[0]).decode("ascii"))
    except ValueError:
        raise VerificationError("the PDF report's attached JSON is damaged") from None


def _shown(text: str, font_name: str) -> str:
    """``text`` as the PDF can show it truthfully: ``view.visible``, and besides as its escape
    (``\\U0001f525``) each character the font has no glyph for (drawn as a box that looks the
    same whatever the character) or that lies beyond U+FFFF (reportlab's text layer, which
    search and copy read, names another character there: 😀 comes out as ὠ)."""
    from reportlab.pdfbase import pdfmetrics

    glyphs = pdfmetrics.getFont(font_name).face.charToGlyph
    return "".join(
        ch
        if ch in "\n\t" or (ord(ch) <= 0xFFFF and ord(ch) in glyphs)
        else ch.encode("unicode_escape").decode("ascii")
        for ch in view.visible(text)
    )


def _cap(text: str) -> str:
    if len(text) <= MAX_CELL_CHARS:
        return text
    return text[:MAX_CELL_CHARS] + " … (shortened here; the full text is in the attached JSON)"


class _Writer:
    """Flowables for one report, with the styles they share."""

    def __init__(self) -> None:
        from reportlab.lib.styles import ParagraphStyle

        base = ParagraphStyle("base", fontName="VSans", fontSize=8.5, leading=11)
        self.body = base
        self.small = ParagraphStyle("small", parent=base, fontSize=7, leading=8.6)
        self.mono = ParagraphStyle("mono", parent=base, fontName="VMono", fontSize=7, leading=8.6)
        self.h1 = ParagraphStyle("h1", parent=base, fontName="VSans-Bold", fontSize=16, leading=20)
        self.h2 = ParagraphStyle(
            "h2", parent=base, fontName="VSans-Bold", fontSize=12, leading=15, spaceBefore=10
        )
        self.h3 = ParagraphStyle(
            "h3", parent=base, fontName="VSans-Bold", fontSize=9.5, leading=12, spaceBefore=6
        )
        self.story: list[Any] = []

    def p(self, text: Any, style: Any = None) -> Any:
        from reportlab.platypus import Paragraph

        style = style or self.body
        return Paragraph(escape(_shown(str(text), style.fontName)), style)

    def add(self, text: Any, style: Any = None) -> None:
        self.story.append(self.p(text, style))

    def table(
        self, rows: list[list[Any]], widths: list[float], header: bool = False, mono: int = -1
    ) -> None:
        from reportlab.lib import colors
        from reportlab.platypus import Table, TableStyle

        cells = [
            [
                c
                if not isinstance(c, str)
                else self.p(
                    _cap(c), self.mono if j == mono and not (header and i == 0) else self.small
                )
                for j, c in enumerate(row)
            ]
            for i, row in enumerate(rows)
        ]
        table = Table(cells, colWidths=widths, repeatRows=1 if header else 0)
        style = [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
        table.setStyle(TableStyle(style))
        self.story.append(table)

    def pairs(self, rows: list[tuple[str, str]], mono_keys: frozenset[str] = frozenset()) -> None:
        from reportlab.lib import colors
        from reportlab.platypus import Table, TableStyle

        cells = [
            [self.p(k, self.small), self.p(_cap(v), self.mono if k in mono_keys else self.small)]
            for k, v in rows
        ]
        table = Table(cells, colWidths=[110, 385])
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eeeeee")),
                ]
            )
        )
        self.story.append(table)


def _exhibit(w: _Writer, ex: dict[str, Any], figures: dict[str, list[Figure]]) -> None:
    from reportlab.platypus import Image, Spacer

    acq = ex["acquisition"]
    w.add(f"Exhibit {ex['exhibit_id']}: {ex['original_name']}", w.h2)
    w.pairs(
        [
            ("Media id", ex["media_id"]),
            ("SHA-256", ex["sha256"]),
            ("Kind, size", view.size_line(ex)),
            ("Media", view.media_line(ex.get("probe"))),
            ("Source", str(acq["source"])),
            ("Acquired (UTC)", str(acq["acquired_at"])),
            ("Acquired by", str(acq["actor"])),
            ("Method", acq["method"]),
            ("SHA-256 at intake", str(acq["sha256_at_intake"])),
            ("Stored copy now", f"{ex['store_check']['state']}: {ex['store_check']['detail']}"),
            ("Provenance ledger", view.ledger_line(ex["ledger"])),
        ],
        mono_keys=frozenset({"SHA-256", "SHA-256 at intake", "Media id"}),
    )
    w.add("SHA-256 at intake and at each hand-off", w.h3)
    rows: list[list[Any]] = [["#", "UTC time", "action", "actor", "SHA-256", "= intake"]]
    for h in ex["hash_history"]:
        same = "yes" if h["matches_intake"] else "NO"
        rows.append([str(h["seq"]), h["at"], h["action"], h["actor"], h["sha256"], same])
    w.table(rows, [16, 78, 36, 50, 280, 35], header=True, mono=4)
    c2pa = ex.get("c2pa") or {}
    w.add("Content Credentials (C2PA)", w.h3)
    w.add(f"State: {c2pa.get('state', 'not read')}. Verbatim validation results:")
    w.add(view.pretty_json(ex.get("c2pa")), w.mono)
    for a in ex["analyses"]:
        w.add(f"Analysis {a['analysis_id']}", w.h3)
        verdict = [("Verdict", view.verdict_line(a)), ("Fused LLR", view.num(a["llr"]))]
        if a["inconclusive_reasons"]:
            verdict.append(("Why inconclusive", "; ".join(a["inconclusive_reasons"])))
        verdict.append(("Fusion rule", str(a["fusion"]["rule"])))
        verdict.append(
            (
                "Ran",
                f"{a['started_at']} to {a['finished_at']} by {a['actor']}, "
                f"engine {a.get('engine_version') or 'not recorded'}",
            )
        )
        w.pairs(verdict)
        rows = [["detector", "status", "raw", "LLR [95%]", "p_fake", "calibration", "notes"]]
        for d in a["detectors"]:
            notes = d["summary"] or ""
            if d.get("out_of_domain"):
                notes += f" — out of domain: {d['out_of_domain']}"
            if d.get("reason"):
                notes += f" — {d['reason']}"
            if d.get("options"):
                notes += f" — built with {options_text(d['options'])}"
            rows.append(
                [
                    f"{d['name']} {d['version']}",
                    d["status"],
                    view.num(d["raw_score"]),
                    f"{view.num(d['llr'])} {view.interval(d['llr_interval'])}",
                    view.num(d["p_fake"]),
                    d["calibration_version"] if d["calibrated"] else "uncalibrated",
                    notes,
                ]
            )
        w.table(rows, [85, 35, 40, 80, 35, 80, 140], header=True)
        found = [
            [d["name"], str(f.get("code")), view.num(f.get("llr")), str(f.get("message") or "")]
            for d in a["detectors"]
            for f in d.get("findings") or []
            if isinstance(f, dict)
        ]
        if found:
            w.add("Findings", w.h3)
            w.table(
                [["detector", "finding", "LLR", "what was measured"], *found],
                [85, 95, 35, 280],
                header=True,
            )
        for fig in figures.get(a["analysis_id"], []):
            if fig.png is not None:
                image = Image(io.BytesIO(fig.png))
                # within the page's frame (483 × 740 pt) with room for the caption: a figure
                # taller than the frame makes reportlab refuse the whole report
                scale = min(1.0, 480 / image.drawWidth, 620 / image.drawHeight)
                image.drawWidth *= scale
                image.drawHeight *= scale
                w.story.append(Spacer(1, 4))
                w.story.append(image)
            w.add(f"{fig.title}: {fig.caption}", w.small)
    w.add("Limitations", w.h3)
    for lim in ex["limitations"]:
        state = {None: "general", True: "applies", False: "not observed"}[lim["applies"]]
        w.add(f"• {lim['code']} ({state}; basis: {lim['basis']}): {lim['text']}", w.small)


def _detectors(w: _Writer, detectors: list[dict[str, Any]]) -> None:
    w.add("Detectors and their known error rates", w.h2)
    for det in detectors:
        w.add(f"{det['name']} {det['version']}", w.h3)
        rows = [
            ("Weights SHA-256", det["weights_sha256"] or "none (rule-based)"),
            ("Calibration", det["calibration_version"] if det["calibrated"] else "uncalibrated"),
            ("Model card SHA-256", det["card_sha256"] or "—"),
        ]
        if det["card_note"]:
            rows.append(("Card", det["card_note"]))
        for key, label in (
            ("detects", "Detects"),
            ("cannot_detect", "Cannot detect"),
            ("limitations", "Limitations"),
        ):
            if view.card_text(det["card"], key):
                rows.append((label, view.card_text(det["card"], key)))
        w.pairs(rows, mono_keys=frozenset({"Weights SHA-256", "Model card SHA-256"}))
        metrics = view.card_metric_rows(det["card"])
        if metrics:
            table: list[list[Any]] = [
                ["media", "test set", "AUC", "EER", "FPR [95%]", "FNR [95%]", "Cllr"]
            ]
            for r in metrics:
                table.append(
                    [r["group"], r["n"], r["auc"], r["eer"], r["fpr"], r["fnr"], r["cllr"]]
                )
            w.table(table, [45, 85, 65, 35, 115, 115, 35], header=True)
        else:
            w.add("No measured error rates on record for this version.", w.small)


def _custody(w: _Writer, custody: dict[str, Any]) -> None:
    verification = custody["verification"]
    w.add("Chain of custody", w.h2)
    if verification["intact"]:
        w.add(f"Every link recomputed: intact ({verification['events']} events).")
    else:
        w.add(f"VERIFICATION FAILED: {verification['problem']}")
    rows: list[list[Any]] = [["#", "UTC time", "actor", "action", "object", "details", "hash"]]
    for e in custody["events"]:
        rows.append(
            [
                str(e["seq"]),
                e["at"],
                e["actor"],
                e["action"],
                (e["object_sha256"] or "")[:16],
                view.compact_json(e["details"])[:400],
                e["event_hash"][:16],
            ]
        )
    w.table(rows, [18, 72, 60, 40, 70, 165, 70], header=True)


def render_pdf(
    document: dict[str, Any], figures: list[Figure], json_bytes: bytes, json_sha256: str
) -> bytes:
    """The report as PDF bytes, with ``json_bytes`` (the canonical JSON) attached."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate

    _register_fonts()
    w = _Writer()
    case = document["case"]
    custody = document["custody"]
    w.add("Forensic media examination report", w.h1)
    w.pairs(
        [
            ("Case", f"{case['name']} ({case['id']})"),
            ("Case description", case["description"] or "—"),
            ("Examiner", document["examiner"]),
            ("Generated (UTC)", document["generated_at"]),
            (
                "Software",
                f"Verity {document['verity_version']} (report schema {document['schema_version']})",
            ),
            ("Scope", view.scope_line(document["subject"])),
            ("Signed with", view.signer_line(document.get("signing_key_id"))),
            ("Canonical JSON SHA-256", json_sha256),
            (
                "Chain of custody",
                f"intact, {custody['verification']['events']} events, head {custody['head_hash']}"
                if custody["verification"]["intact"]
                else f"BROKEN: {custody['verification']['problem']}",
            ),
        ],
        mono_keys=frozenset({"Canonical JSON SHA-256"}),
    )
    w.add("Summary", w.h2)
    rows: list[list[Any]] = [["exhibit", "file", "SHA-256", "findings"]]
    for ex in document["exhibits"]:
        findings = "; ".join(view.verdict_line(a) for a in ex["analyses"]) or "not analysed"
        rows.append([ex["exhibit_id"], ex["original_name"], ex["sha256"], findings])
    w.table(rows, [30, 72, 278, 115], header=True, mono=2)
    by_analysis: dict[str, list[Figure]] = {}
    for fig in figures:
        by_analysis.setdefault(fig.analysis_id, []).append(fig)
    for ex in document["exhibits"]:
        _exhibit(w, ex, by_analysis)
    _detectors(w, document["detectors"])
    _custody(w, custody)
    w.add("How to verify this report", w.h2)
    w.add(
        f"The canonical JSON this PDF shows is attached as {ATTACHMENT_NAME} (SHA-256 "
        f"{json_sha256}). With the detached signature and the examiner's public report key run "
        "`verity verify-report REPORT.pdf --public-key KEY`; add --check-media where the evidence "
        "store is reachable, and `verity reproduce REPORT.pdf` re-runs the same detectors."
    )

    def on_page(canvas: Any, doc: Any) -> None:
        _attach_json(canvas, json_bytes)
        canvas.saveState()
        canvas.setFont("VSans", 6.5)
        canvas.drawString(
            50, 25, f"Verity report · case {case['id']} · JSON sha256 {json_sha256[:16]}…"
        )
        canvas.drawRightString(545, 25, f"page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=50,
        rightMargin=50,
        topMargin=45,
        bottomMargin=45,
        title=f"Verity forensic report, case {case['name']}",
        author=document["examiner"],
        subject=f"canonical JSON sha256 {json_sha256}",
        creator=f"Verity {document['verity_version']}",
    )
    template.build(w.story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
