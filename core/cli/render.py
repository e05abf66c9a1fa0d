"""Rich rendering for people; JSON rendering for tools. No logic lives here."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.detector import DetectorSpec
from core.errors import display_name

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

VERDICT_STYLE = {"authentic": "green", "manipulated": "bold red", "inconclusive": "yellow"}


def safe(value: object) -> str:
    """Data (a file's name, its metadata, a receipt's field) as literal text for the terminal.

    Control characters are escaped so it cannot forge extra lines, and Rich markup is escaped so
    a name such as ``[green]ok[/]`` or ``[black on black]…`` cannot restyle or hide what it says.
    """
    return escape(display_name(str(value)))


def print_json_line(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n")
    sys.stdout.flush()


def fmt_p(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def analyses_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="Verity analysis", show_lines=False)
    table.add_column("file", overflow="fold", min_width=12)
    table.add_column("kind", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("p_fake", no_wrap=True)
    table.add_column("detectors", overflow="fold")
    table.add_column("analysis", no_wrap=True)
    for result in results:
        verdict = result["verdict"]
        dets = "\n".join(f"{d['name']} {safe(_detector_cell(d))}" for d in result["detectors"])
        table.add_row(
            safe(result["media"]["original_name"]),
            result["media"]["kind"],
            f"[{VERDICT_STYLE.get(verdict, '')}]{verdict}[/]",
            fmt_p(result["p_fake"]),
            dets or "none applied",
            result["analysis_id"][:12],
        )
    return table


def _detector_cell(det: dict[str, Any]) -> str:
    if det["status"] != "ok":
        return str(det["status"])
    if det.get("out_of_domain"):
        return "out of domain"
    if not det.get("calibrated") and det.get("llr") == 0.0:
        return f"raw {det['raw_score']:+.2f}, uncalibrated"
    return fmt_p(det["p_fake"])


def analysis_detail(result: dict[str, Any]) -> None:
    media = result["media"]
    verdict = result["verdict"]
    out.print(f"[bold]Analysis[/] {result['analysis_id']}  (case {result['case_id']})")
    out.print(f"  file      {safe(media['original_name'])}")
    out.print(f"  sha256    {media['sha256']}")
    size = f"{media['width']}x{media['height']}" if media.get("width") else ""
    duration = f"{media['duration_s']:.2f} s" if media.get("duration_s") else ""
    container = safe(media["container"] or "")
    out.print(f"  media     {media['kind']} {container} {size} {duration}".rstrip())
    out.print(
        f"  verdict   [{VERDICT_STYLE.get(verdict, '')}]{verdict}[/]"
        f"  p_fake {fmt_p(result['p_fake'])}"
        f"  ({result['fusion']['rule']})"
    )
    for reason in result["fusion"]["reasons"]:
        out.print(f"            · {safe(reason)}")
    table = Table(show_header=True)
    for column in ("detector", "version", "status", "raw", "p_fake", "calibrated", "weights"):
        table.add_column(column, overflow="fold")
    for det in result["detectors"]:
        table.add_row(
            det["name"],
            det["version"],
            det["status"] if det["status"] == "ok" else safe(f"{det['status']}: {det['reason']}"),
            "—" if det["raw_score"] is None else f"{det['raw_score']:.3f}",
            fmt_p(det["p_fake"]),
            f"{'yes' if det['calibrated'] else 'no'} ({det['calibration_version'] or '—'})",
            (det["weights_sha256"] or "none")[:16],
        )
    out.print(table)
    for det in result["detectors"]:
        for finding in det.get("findings", []):
            message = safe(finding["message"])
            out.print(f"  {det['name']}: {message}  [dim](LLR {finding['llr']:+.2f})[/]")


def _interval(value: list[float] | None) -> str:
    return f" [{value[0]:.3f}, {value[1]:.3f}]" if value else ""


def _short(value: Any) -> str:
    """A detail value for a terminal: ids and hashes to 12 hex digits, other text to 32 chars."""
    if isinstance(value, list):
        return ",".join(_short(v) for v in value[:3]) + (
            f",+{len(value) - 3}" if len(value) > 3 else ""
        )
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) >= 32 and all(c in "0123456789abcdef" for c in text):
        return text[:12]
    return text if len(text) <= 32 else text[:31] + "…"


def _details_cell(details: dict[str, Any]) -> str:
    """A custody event's details on one line, shortened (``--json`` has them whole)."""
    return " ".join(f"{key}={_short(value)}" for key, value in sorted(details.items()))


def _moment(iso: str) -> str:
    """An ISO time to the second, for reading; the stored value (``--json``) keeps microseconds."""
    return iso.replace("T", " ")[:19]


def case_detail(data: dict[str, Any], last: int) -> None:
    """A case as ``verity case show`` prints it: media with their analyses, then the custody log."""
    case, check = data["case"], data["custody_verification"]
    out.print(f"[bold]Case[/] {safe(case['name'])}  id {case['id']}")
    out.print(f"  created   {_moment(case['created_at'])} by {safe(case['created_by'])}")
    if case["description"]:
        out.print(f"  about     {safe(case['description'])}")
    table = Table(title=f"Media ({len(data['media'])})")
    for column in ("file", "kind", "sha256", "added", "analysis", "verdict", "p_fake"):
        table.add_column(column, overflow="fold")
    for item in data["media"]:
        media = item["media"]
        first = (
            safe(media["original_name"]),
            media["kind"],
            media["sha256"][:16],
            _moment(item["added_at"]),
        )
        if not item["analyses"]:
            table.add_row(*first, "not analysed", "", "")
        for n, analysis in enumerate(item["analyses"]):  # newest first
            verdict = analysis["verdict"]
            table.add_row(
                *(first if n == 0 else ("", "", "", "")),
                analysis["analysis_id"][:12],
                f"[{VERDICT_STYLE.get(verdict, '')}]{verdict}[/]",
                fmt_p(analysis["p_fake"]) + _interval(analysis.get("p_fake_interval")),
            )
    out.print(table)
    events = data["custody"]
    shown = events if last == 0 else events[-last:]
    state = (
        f"[green]intact[/], head {check['head']}"
        if check["ok"]
        else f"[bold red]BROKEN[/]: {safe(check['message'])}"
    )
    out.print(f"[bold]Custody[/] {len(events)} events, {state}")
    log = Table(show_header=True)
    for column in ("seq", "at", "actor", "action", "object", "details"):
        log.add_column(column, overflow="fold")
    for event in shown:
        log.add_row(
            str(event["seq"]),
            _moment(event["at"]),
            safe(event["actor"]),
            safe(event["action"]),
            safe((event["object_sha256"] or "")[:16]),
            safe(_details_cell(event["details"])),
        )
    out.print(log)
    if len(shown) < len(events):
        out.print(f"  ({len(events) - len(shown)} earlier events; --last 0 prints all)")


def detectors_table(specs: list[DetectorSpec], calibrations: dict[str, dict[str, str]]) -> Table:
    """``calibrations``: detector name → {media kind: calibration version in force}."""
    table = Table(title="Registered detectors")
    for column in ("name", "version", "media", "resolution", "calibrated", "weight", "summary"):
        table.add_column(column, overflow="fold")
    for spec in specs:
        table.add_row(
            spec.name,
            spec.version,
            ", ".join(sorted(k.value for k in spec.media_kinds)),
            spec.resolution,
            f"yes ({', '.join(calibrations[spec.name])})" if calibrations.get(spec.name) else "no",
            f"{spec.fusion_weight:.2f}",
            spec.summary,
        )
    return table


class ProgressHook:
    """The engine's hook drawn as a rich progress bar on stderr (hidden when not a terminal)."""

    def __init__(self, progress: Progress, label: str) -> None:
        self._progress = progress
        self._label = safe(label)  # a file's name
        self._task: TaskID = progress.add_task(self._label, total=None)

    def __call__(
        self,
        step: str,
        *,
        completed: float | None = None,
        total: int | None = None,
        detail: str | None = None,
    ) -> None:
        within = safe(detail) if detail and step.startswith("detect:") else None  # its own part
        self._progress.update(
            self._task,
            description=f"{self._label} · {step}" + (f" · {within}" if within else ""),
            completed=completed if completed is not None else None,
            total=total,
        )


def make_progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not enabled,
    )
