"""The HTML rendering: one self-contained page (figures inline) with the canonical JSON embedded.

Jinja2 with autoescaping on: file names, C2PA manifests and custody details are hostile input,
and escaping is the template engine's job, not each field's. The canonical JSON rides in a
``<script type="application/json">`` element with ``<``, ``>`` and ``&`` written as JSON
``\\u`` escapes, so no string in it can close the element; parsing it back gives the same
canonical bytes, which is how ``verity verify-report`` ties the page to the signed document.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from core.canonical import canonical_json, parse_untrusted_json
from core.errors import VerificationError
from core.report import view
from core.report.figures import Figure

TEMPLATES = Path(__file__).parent / "templates"
SCRIPT_ID = "verity-report-json"
_SCRIPT = re.compile(
    rb'<script type="application/json" id="' + SCRIPT_ID.encode() + rb'">(.*?)</script>', re.S
)


def _shown(value: Any) -> Any:
    """Every ``{{ }}`` of the template: text from the evidence with its hidden characters shown."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return view.visible(value)
    return value


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        finalize=_shown,
    )
    env.filters.update(
        num=view.num,
        interval=view.interval,
        pretty_json=view.pretty_json,
        compact_json=view.compact_json,
    )
    env.globals.update(
        card_metric_rows=view.card_metric_rows,
        card_text=view.card_text,
        ledger_line=view.ledger_line,
        media_line=view.media_line,
        scope_line=view.scope_line,
        signer_line=view.signer_line,
        size_line=view.size_line,
        verdict_line=view.verdict_line,
    )
    return env


def embeddable_json(document: dict[str, Any]) -> str:
    """Canonical JSON that cannot end a script element (``<>&`` as ``\\u`` escapes)."""
    text = canonical_json(document).decode("utf-8")
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_html(document: dict[str, Any], figures: list[Figure], json_sha256: str) -> bytes:
    by_analysis: dict[str, list[dict[str, str | None]]] = {}
    for fig in figures:
        by_analysis.setdefault(fig.analysis_id, []).append(
            {
                "title": fig.title,
                "caption": fig.caption,
                "src": None
                if fig.png is None
                else "data:image/png;base64," + base64.b64encode(fig.png).decode("ascii"),
            }
        )
    template = _environment().get_template("report.html.j2")
    page = template.render(
        doc=document,
        figures=by_analysis,
        json_sha256=json_sha256,
        embedded_json=Markup(embeddable_json(document)),  # noqa: S704  escaped above
    )
    return page.encode("utf-8")


def extract_json(page: bytes) -> bytes:
    """The canonical JSON embedded in an HTML report, as canonical bytes."""
    found = _SCRIPT.findall(page)
    if len(found) != 1:
        raise VerificationError("the HTML report does not embed exactly one canonical JSON")
    try:
        return canonical_json(parse_untrusted_json(found[0].decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationError(f"the HTML report's embedded JSON is unreadable: {exc}") from None
