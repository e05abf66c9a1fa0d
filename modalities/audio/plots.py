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

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, SeriesPoint
from modalities.audio import frontend

MAX_COLUMNS = 1600  # time columns drawn; longer clips are max-pooled down to this


def spectrogram_png(
    wave: np.ndarray,
    series: Sequence[SeriesPoint],
    *,
    flag_above: float,
    title: str,
    score_label: str,
) -> bytes:
    """PNG bytes: log-power spectrogram (0–8 kHz) over a per-segment score timeline."""
    power = frontend.power_spectrogram(wave.astype(np.float32))
    db = 10 * np.log10(power + 1e-10)
    if db.shape[1] > MAX_COLUMNS:
        step = int(np.ceil(db.shape[1] / MAX_COLUMNS))
        usable = db.shape[1] // step * step
        db = db[:, :usable].reshape(db.shape[0], -1, step).max(axis=2)
    duration = len(wave) / frontend.SAMPLE_RATE
    top = float(np.percentile(db, 99.5))
    fig, (ax_spec, ax_score) = plt.subplots(
        2, 1, figsize=(9, 3.6), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]}
    )
    try:
        ax_spec.imshow(
            db,
            origin="lower",
            aspect="auto",
            extent=(0.0, duration, 0.0, frontend.SAMPLE_RATE / 2000),
            vmin=top - 80,
            vmax=top,
            cmap="magma",
        )
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


def scored_evidence(
    spec: DetectorSpec,
    media: MediaInput,
    wave: np.ndarray,
    series: Sequence[SeriesPoint],
    *,
    raw: float,
    findings: Sequence[Finding],
    summary: str,
    score_label: str,
    flagged: str = "segments",
) -> Evidence:
    """An audio detector's scored result: raw score (the engine calibrates it), findings, the
    timeline, and this figure stored with the analysis; segments scoring above 0 are flagged."""
    figure = spectrogram_png(
        wave,
        series,
        flag_above=0.0,
        title=f"{spec.name} {spec.version}: channel-normalised input, flagged {flagged} in red",
        score_label=score_label,
    )
    return Evidence.from_llr(
        spec,
        raw_score=raw,
        llr=0.0,
        findings=tuple(findings),
        series=tuple(series),
        artifacts=(media.artifacts.put("spectrogram", figure, "image/png"),),
        summary=summary,
    )
