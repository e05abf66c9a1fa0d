"""The evidence both lip-sync detectors make from a ``signals.SyncAnalysis``.

``lipsync.av_offset`` (correlation of landmarks and speech) and ``lipsync.syncnet`` (learnt
embedding distances) measure sync differently but report it the same way: the clip's raw score
(share of speech windows out of sync, half the undecided ones, or a clear whole-clip shift), an
expert-prior LLR, the same findings, a per-window series and the offset-curve and timeline
figures. Only a few messages differ; they are passed in. ``lipsync.syncnet`` (1.2.0) also passes
a ``signals.SyncNullTest``: its raw score is then the clip's sync against its own rolled soundtrack
(Φ of the z-score, or the whole-clip shift if larger), which needs no threshold learnt elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, SeriesPoint
from modalities.lipsync import plots, signals

LLR_SLOPE = 3.0  # expert prior: an all-out-of-sync clip ≈ +2, a clean in-sync one ≈ −1
LLR_CLAMP = (-1.0, 2.0)


def span_finding(media: MediaInput, limit_s: float) -> Finding:
    """How much of the video the detector looked at: it reads the first ``limit_s`` seconds only,
    and an analyst must not read "in sync" as a statement about the rest of a longer video."""
    total = media.info.duration_s
    analysed = min(limit_s, total) if total else limit_s
    if not total:
        message = f"at most the first {limit_s:.0f} s analysed (length unknown)"
    elif total > limit_s + 0.05:
        message = f"the first {limit_s:.1f} s of {total:.1f} s analysed; the rest was not looked at"
    else:
        message = f"the first {total:.1f} s analysed"
    return Finding(code="analysed_span_s", value=round(analysed, 2), message=message)


def clip_score(
    analysis: signals.SyncAnalysis,
    min_confidence: float,
    null_test: signals.SyncNullTest | None = None,
) -> tuple[float, float]:
    """Raw score and the clip-level shift part alone. The raw score is the larger of that shift
    and, with a ``null_test``, Φ(z) of the clip against its own rolled soundtrack, or without one
    the share of speech windows out of sync plus half the undecided ones."""
    beyond = max(0, abs(analysis.offset) - signals.TOLERANCE)
    shifted = min(1.0, beyond / 3) if analysis.confidence >= min_confidence else 0.0
    if null_test is not None:
        return max(null_test.no_sync_score, shifted), shifted
    raw = max(analysis.share("out_of_sync") + 0.5 * analysis.share("undecided"), shifted)
    return raw, shifted


def expert_llr(raw: float) -> float:
    """Lip-sync generators are trained to be in sync, so "in sync" is weak evidence of
    authenticity while "out of sync" is strong evidence of editing: an uncalibrated prior."""
    return float(np.clip(LLR_SLOPE * (raw - 0.35), *LLR_CLAMP))


def sync_evidence(
    spec: DetectorSpec,
    analysis: signals.SyncAnalysis,
    media: MediaInput,
    *,
    facts: Sequence[Finding],
    track_id: int,
    min_confidence: float,
    messages: dict[str, str],
    extra: Sequence[Finding] = (),
    curve_label: str | None = None,
    null_test: signals.SyncNullTest | None = None,
) -> Evidence:
    """Evidence for the speaker track ``track_id``'s analysis. ``messages`` holds the wording of
    ``speaker_track``, ``av_offset_frames``, ``sync_confidence`` and ``undecided_share``;
    ``extra`` findings follow ``sync_confidence``; ``curve_label`` names the curve's y axis;
    ``null_test``, when given, sets the raw score (see the module docstring)."""
    raw, shifted = clip_score(analysis, min_confidence, null_test)
    llr = expert_llr(raw)
    out_share, undecided = analysis.share("out_of_sync"), analysis.share("undecided")
    speech_windows = analysis.speech_windows
    findings = [
        *facts,
        Finding(code="speaker_track", value=track_id, message=messages["speaker_track"]),
        Finding(
            code="av_offset_frames", value=analysis.offset, message=messages["av_offset_frames"]
        ),
        Finding(
            code="av_offset_ms",
            value=round(analysis.offset_ms, 1),
            message=f"same, ms (tolerance ±{signals.TOLERANCE} frames)",
            llr=round(expert_llr(shifted), 4) if shifted else 0.0,
        ),
        Finding(
            code="sync_confidence",
            value=round(analysis.confidence, 4),
            message=messages["sync_confidence"],
        ),
        *extra,
        Finding(
            code="out_of_sync_share",
            value=round(out_share, 4),
            message=f"{out_share:.0%} of {len(speech_windows)} speech windows are better "
            "explained by a shifted soundtrack",
            llr=llr if null_test is None else 0.0,
        ),
        Finding(
            code="undecided_share", value=round(undecided, 4), message=messages["undecided_share"]
        ),
    ]
    summary = (
        f"AV offset {analysis.offset_ms:+.0f} ms (confidence {analysis.confidence:.2f}); "
        f"{out_share:.0%} of speech windows out of sync, {undecided:.0%} undecided"
    )
    if null_test is not None:
        findings.append(
            Finding(
                code="sync_null_z",
                value=round(null_test.z, 3),
                message=f"in-sync prominence {null_test.observed:.3f} over {null_test.windows} "
                f"window(s) against {null_test.null_mean:.3f} ± {null_test.null_sd:.3f} with "
                f"the clip's own soundtrack rolled {null_test.rolls} ways "
                f"({null_test.null_windows} windows); z > 0: no better than out of sync",
                llr=llr,
            )
        )
        summary += f"; sync {-null_test.z:+.1f} sd against its own rolled soundtrack"
    series = tuple(
        SeriesPoint(start_s=w.start / analysis.fps, end_s=w.end / analysis.fps, score=w.shift_gain)
        for w in speech_windows
    )
    title = f"{spec.name} {spec.version}"
    curve_png = (
        plots.offset_curve_png(analysis, title)
        if curve_label is None
        else plots.offset_curve_png(analysis, title, ylabel=curve_label)
    )
    artifacts = [
        media.artifacts.put("offset_curve", curve_png, "image/png"),
        media.artifacts.put("sync_timeline", plots.timeline_png(analysis, title), "image/png"),
    ]
    if null_test is not None:
        null_figure = plots.null_png(null_test, title)
        artifacts.append(media.artifacts.put("sync_null", null_figure, "image/png"))
    return Evidence.from_llr(
        spec,
        raw_score=raw,
        llr=llr,
        findings=tuple(findings),
        series=series,
        artifacts=tuple(artifacts),
        summary=summary,
    )
