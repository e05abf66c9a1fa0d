"""The spectrogram figure every audio detector attaches: where in the clip the evidence lies.

An analyst reads a synthetic-speech verdict by looking: the spectrogram of the analysed signal
(after the front end's channel normalisation, so exactly what the detector saw), the detector's
per-segment scores underneath, and the segments it flags shaded in red on both.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, SeriesPoint
from modalities.audio import frontend

MAX_COLUMNS = 1600  # time columns drawn; longer clips are max-pooled down to this


def spectrogram_png(
    pieces: Sequence[tuple[float, np.ndarray]],
    series: Sequence[SeriesPoint],
    *,
    flag_above: float,
    title: str,
    score_label: str,
) -> bytes:
    """PNG bytes: log-power spectrogram (0–8 kHz) over a per-segment score timeline.

    ``pieces`` are the waves analysed with the time (s) each starts at: one for a clip, the
    passages of a long recording (modalities.audio.passages), each drawn where it lies, gaps
    left blank. Together they are max-pooled down to ``MAX_COLUMNS`` time columns."""
    columns = sum(1 + (max(len(w), frontend.WIN) - frontend.WIN) // frontend.HOP for _, w in pieces)
    step = max(1, int(np.ceil(columns / MAX_COLUMNS)))
    images = [
        (start, start + len(wave) / frontend.SAMPLE_RATE, pooled_db(wave, step))
        for start, wave in pieces
    ]
    duration = max(end for _, end, _ in images)
    top = float(np.percentile(np.concatenate([db for _, _, db in images], axis=1), 99.5))
    fig, (ax_spec, ax_score) = plt.subplots(
        2, 1, figsize=(9, 3.6), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}
    )
    try:
        for start, end, db in images:
            ax_spec.imshow(
                db,
                origin="lower",
                aspect="auto",
                extent=(start, end, 0.0, frontend.SAMPLE_RATE / 2000),
                vmin=top - 80,
                vmax=top,
                cmap="magma",
            )
        ax_spec.set_xlim(0.0, max(duration, 1e-3))
        ax_spec.set_ylabel("kHz")
        ax_spec.set_title(title, fontsize=9)
        flagged = [p for p in series if p.score > flag_above]
        for point in flagged:  # a red bar along the top of the spectrogram, shading below
            ax_spec.axvspan(point.start_s, point.end_s, ymin=0.95, color="red", alpha=0.9, lw=0)
            ax_score.axvspan(point.start_s, point.end_s, color="red", alpha=0.25, lw=0)
        if series:
            mids = [(p.start_s + p.end_s) / 2 for p in series]
            ax_score.plot(mids, [p.score for p in series], "o-", color="black", ms=3, lw=1)
        ax_score.axhline(flag_above, color="red", lw=0.8, ls="--")
        ax_score.set_ylabel(score_label, fontsize=8)
        ax_score.set_xlabel(
            f"seconds — {len(flagged)} of {len(series)} segments flagged (score > {flag_above:g})"
        )
        ax_score.set_xlim(0.0, max(duration, 1e-3))
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def pooled_db(wave: np.ndarray, step: int) -> np.ndarray:
    """The log-power spectrogram of ``wave`` (dB), max-pooled over ``step`` frames (a last
    incomplete group dropped; none when there are fewer frames than ``step``).

    Pooled block by block, each block a whole number of groups: the figure of a 10-minute
    passage once held its full-resolution spectrogram twice (power and dB, 250 MB) to draw 1,600
    columns; the numbers are the same (each frame's power, its logarithm and each group's maximum
    do not depend on the frames around them)."""
    wave = np.asarray(wave, dtype=np.float32)
    n_frames = 1 + (max(len(wave), frontend.WIN) - frontend.WIN) // frontend.HOP
    if step <= 1 or n_frames < step:
        return np.asarray(10 * np.log10(frontend.power_spectrogram(wave) + 1e-10))
    usable = n_frames // step * step
    size = max(1, frontend.POWER_BLOCK // step) * step
    parts = []
    head = wave[: (usable - 1) * frontend.HOP + frontend.WIN]  # the frames of whole groups
    for _, power in frontend.power_blocks(head, size):
        db = 10 * np.log10(power + 1e-10)
        parts.append(db.reshape(db.shape[0], -1, step).max(axis=2))
    return np.concatenate(parts, axis=1)


def scored_evidence(
    spec: DetectorSpec,
    series: Sequence[SeriesPoint],
    *,
    raw: float,
    findings: Sequence[Finding],
    summary: str,
) -> Evidence:
    """An audio detector's scored result on one passage: raw score (the engine calibrates it),
    findings and timeline; modalities.audio.passages.decided adds the spectrogram figure."""
    return Evidence.from_llr(
        spec,
        raw_score=raw,
        llr=0.0,
        findings=tuple(findings),
        series=tuple(series),
        summary=summary,
    )
