"""Rich rendering for people; JSON rendering for tools. No logic lives here."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.detector import DetectorSpec

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

VERDICT_STYLE = {"authentic": "green", "manipulated": "bold red", "inconclusive": "yellow"}


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
        dets = "\n".join(f"{d['name']} {_detector_cell(d)}" for d in result["detectors"])
        table.add_row(
            result["media"]["original_name"],
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
    out.print(f"  file      {media['original_name']}")
    out.print(f"  sha256    {media['sha256']}")
    size = f"{media['width']}x{media['height']}" if media.get("width") else ""
    duration = f"{media['duration_s']:.2f} s" if media.get("duration_s") else ""
    out.print(f"  media     {media['kind']} {media['container'] or ''} {size} {duration}".rstrip())
    out.print(
        f"  verdict   [{VERDICT_STYLE.get(verdict, '')}]{verdict}[/]"
        f"  p_fake {fmt_p(result['p_fake'])}"
        f"  ({result['fusion']['rule']})"
    )
    for reason in result["fusion"]["reasons"]:
        out.print(f"            · {reason}")
    table = Table(show_header=True)
    for column in ("detector", "version", "status", "raw", "p_fake", "calibrated", "weights"):
        table.add_column(column, overflow="fold")
    for det in result["detectors"]:
        table.add_row(
            det["name"],
            det["version"],
            det["status"] if det["status"] == "ok" else f"{det['status']}: {det['reason']}",
            "—" if det["raw_score"] is None else f"{det['raw_score']:.3f}",
            fmt_p(det["p_fake"]),
            f"{'yes' if det['calibrated'] else 'no'} ({det['calibration_version'] or '—'})",
            (det["weights_sha256"] or "none")[:16],
        )
    out.print(table)
    for det in result["detectors"]:
        for finding in det.get("findings", []):
            out.print(f"  {det['name']}: {finding['message']}  [dim](LLR {finding['llr']:+.2f})[/]")


def detectors_table(specs: list[DetectorSpec]) -> Table:
    table = Table(title="Registered detectors")
    for column in ("name", "version", "media", "resolution", "calibrated", "weight", "summary"):
        table.add_column(column, overflow="fold")
    for spec in specs:
        table.add_row(
            spec.name,
            spec.version,
            ", ".join(sorted(k.value for k in spec.media_kinds)),
            spec.resolution,
            "yes" if spec.calibrated else f"no ({spec.calibration_version or '—'})",
            f"{spec.fusion_weight:.2f}",
            spec.summary,
        )
    return table


class ProgressHook:
    """The engine's hook drawn as a rich progress bar on stderr (hidden when not a terminal)."""

    def __init__(self, progress: Progress, label: str) -> None:
        self._progress = progress
        self._task: TaskID = progress.add_task(label, total=None)
        self._label = label

    def __call__(
        self,
        step: str,
        *,
        completed: float | None = None,
        total: int | None = None,
        detail: str | None = None,
    ) -> None:
        within = detail if step.startswith("detect:") else None  # a detector's own part
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
