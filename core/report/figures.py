"""Figures for a report, drawn from the evidence: score timelines and the detectors' own images.

Per-frame and per-segment series in the evidence become one timeline per analysis (one panel per
detector, because detectors score on different scales). Heatmaps, spectrograms and curves that a
detector kept in the artifact store are embedded as they are, after checking that their bytes
still hash to the SHA-256 the evidence cites; a missing or altered artefact is named in the
caption instead. Figures are PNG bytes, drawn with matplotlib's object API (no global pyplot
state, safe in a worker), and are views only: the signed canonical JSON holds the numbers.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ArtifactPath = Callable[[str], Path | None]

MAX_ARTIFACT_BYTES = 20 * 1024 * 1024
TIMELINE_PANELS = 4  # detectors per timeline figure: a talking-head video has 8 with a series,
# and one figure of 8 panels was taller than an A4 page (the PDF export failed)


@dataclass(frozen=True)
class Figure:
    exhibit_id: str
    analysis_id: str
    title: str
    caption: str
    png: bytes | None  # None: nothing to show, the caption says why
    damaged: bool = False  # a figure the evidence cites that is gone or altered (caption: which)


def _no_artifacts(_sha256: str) -> Path | None:
    return None


def timeline_png(detectors: list[dict[str, Any]]) -> bytes:
    """One panel per detector with a series: its score over time, segments as steps."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    with_series = [d for d in detectors if d.get("series")]
    fig = MplFigure(figsize=(7.0, 1.6 + 1.4 * len(with_series)), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(with_series), 1, squeeze=False)[:, 0]
    for ax, det in zip(axes, with_series, strict=True):
        points = det["series"]
        xs = [p["start_s"] for p in points] + [points[-1]["end_s"]]
        ys = [p["score"] for p in points] + [points[-1]["score"]]
        ax.step(xs, ys, where="post", color="#1f4e79", linewidth=1.4)
        ax.plot([p["start_s"] for p in points], [p["score"] for p in points], "o", ms=2.5)
        ax.axhline(0.0, color="#999999", linewidth=0.6)
        ax.set_ylabel("score", fontsize=8)
        ax.set_title(f"{det['name']} {det['version']}", fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("time (s)", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _artifact_figure(
    exhibit_id: str,
    analysis_id: str,
    det: dict[str, Any],
    ref: dict[str, Any],
    artifact_path: ArtifactPath,
) -> Figure:
    title = f"{det['name']}: {ref.get('kind', 'artefact')}"
    sha = str(ref.get("sha256"))
    if ref.get("media_type") != "image/png":
        return Figure(
            exhibit_id, analysis_id, title, f"{ref.get('media_type')} artefact {sha}", None
        )
    path = artifact_path(sha)
    if path is None or not path.is_file() or path.stat().st_size > MAX_ARTIFACT_BYTES:
        caption = f"artefact {sha} is not in this installation's artifact store"
        return Figure(exhibit_id, analysis_id, title, caption, None, damaged=True)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha:
        caption = f"artefact {sha} was altered: its bytes no longer hash to the cited SHA-256"
        return Figure(exhibit_id, analysis_id, title, caption, None, damaged=True)
    return Figure(exhibit_id, analysis_id, title, f"sha256 {sha}", data)


def report_figures(
    document: dict[str, Any], artifact_path: ArtifactPath = _no_artifacts
) -> list[Figure]:
    """Every figure of a report document, in exhibit and analysis order."""
    figures = []
    for exhibit in document["exhibits"]:
        for analysis in exhibit["analyses"]:
            detectors = analysis["detectors"]
            with_series = [d for d in detectors if d.get("series")]
            parts = [
                with_series[i : i + TIMELINE_PANELS]
                for i in range(0, len(with_series), TIMELINE_PANELS)
            ]
            for number, part in enumerate(parts, start=1):
                figures.append(
                    Figure(
                        exhibit["exhibit_id"],
                        analysis["analysis_id"],
                        "score timeline"
                        + (f" ({number} of {len(parts)})" if len(parts) > 1 else ""),
                        "per-frame or per-segment scores of each detector (raw scale); "
                        "the numbers are in the JSON report",
                        timeline_png(part),
                    )
                )
            for det in detectors:
                for ref in det.get("artifacts", []):
                    figures.append(
                        _artifact_figure(
                            exhibit["exhibit_id"],
                            analysis["analysis_id"],
                            det,
                            ref,
                            artifact_path,
                        )
                    )
    return figures
