"""Lip-sync figures: the offset-versus-correlation curve, the per-window sync timeline and, for a
clip judged against its own rolled soundtrack, where its windows fall in that null."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from modalities.lipsync.signals import TOLERANCE, SyncAnalysis, SyncNullTest

COLOURS = {"in_sync": "tab:green", "out_of_sync": "tab:red", "undecided": "tab:grey"}


def _png(fig: Figure) -> bytes:
    try:
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def offset_curve_png(
    analysis: SyncAnalysis, title: str, ylabel: str = "mouth–speech correlation"
) -> bytes:
    """Correlation against audio offset (ms), the in-sync band shaded, the best offset marked."""
    fig, ax = plt.subplots(figsize=(6.5, 3.0), dpi=100)
    ms = analysis.offsets * 1000.0 / analysis.fps
    band = TOLERANCE * 1000.0 / analysis.fps
    ax.axvspan(-band, band, color="tab:green", alpha=0.12, lw=0, label="in-sync tolerance")
    ax.plot(ms, analysis.curve, "-o", ms=3, color="black", lw=1)
    ax.axvline(analysis.offset_ms, color="tab:red", lw=1, ls="--", label="best offset")
    ax.axhline(float(np.nanmedian(analysis.curve)), color="grey", lw=0.8, ls=":", label="median")
    ax.set_xlabel("audio offset, ms (positive: sound later than picture)")
    ax.set_ylabel(ylabel)
    ax.set_title(
        f"{title}: offset {analysis.offset_ms:+.0f} ms, confidence {analysis.confidence:.2f}",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def timeline_png(passages: Sequence[tuple[float, SyncAnalysis]], title: str) -> bytes:
    """Each window's best offset over the video's time, coloured by its verdict; ``passages``
    are (start on the video's clock, analysis) pairs, shaded when there are several."""
    fig, ax = plt.subplots(figsize=(8.0, 2.6), dpi=100)
    fps = passages[0][1].fps
    band = TOLERANCE * 1000.0 / fps
    ax.axhspan(-band, band, color="tab:green", alpha=0.12, lw=0)
    out, speech = 0, 0
    for origin, analysis in passages:
        if len(passages) > 1:
            last = analysis.windows[-1].end / analysis.fps
            ax.axvspan(origin, origin + last, color="tab:blue", alpha=0.06, lw=0)
        for window in analysis.windows:
            start = origin + window.start / analysis.fps
            end = origin + window.end / analysis.fps
            y = window.offset * 1000.0 / analysis.fps
            ax.plot([start, end], [y, y], color=COLOURS[window.verdict], lw=3, alpha=0.8)
        out += sum(w.verdict == "out_of_sync" for w in analysis.speech_windows)
        speech += len(analysis.speech_windows)
    ax.set_xlabel("seconds" + (" (blue: the passages analysed)" if len(passages) > 1 else ""))
    ax.set_ylabel("best offset, ms")
    ax.set_title(
        f"{title}: {out / max(speech, 1):.0%} of speech windows out of sync "
        "(green in sync, red out of sync, grey undecided or no speech)",
        fontsize=8,
    )
    return _png(fig)


def null_png(test: SyncNullTest, title: str) -> bytes:
    """The in-sync prominence of the clip's speech windows against the same windows with the
    soundtrack rolled (out of sync for certain): the picture behind the clip's z-score."""
    fig, ax = plt.subplots(figsize=(6.5, 2.8), dpi=100)
    values = np.concatenate([test.null_values, test.window_values])
    bins = np.linspace(float(values.min()), float(values.max()) + 1e-9, 25).tolist()
    ax.hist(test.null_values, bins=bins, color="tab:grey", alpha=0.6, density=True,
            label=f"soundtrack rolled ({test.null_windows} windows)")  # fmt: skip
    ax.hist(test.window_values, bins=bins, color="tab:green", alpha=0.6, density=True,
            label=f"as recorded ({test.windows} windows)")  # fmt: skip
    ax.axvline(test.null_mean, color="black", lw=1, ls=":", label="rolled mean")
    ax.axvline(test.observed, color="tab:green", lw=1.5, label="recorded mean")
    ax.set_xlabel("in-sync prominence (best within ±2 frames of 0, minus the curve's median)")
    ax.set_yticks([])
    ax.set_title(
        f"{title}: recorded sync {-test.z:+.1f} sd against its own rolled soundtrack", fontsize=9
    )
    ax.legend(fontsize=7, loc="upper left")
    return _png(fig)
