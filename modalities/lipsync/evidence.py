"""The evidence both lip-sync detectors make from a ``signals.SyncAnalysis``.

``lipsync.av_offset`` (correlation of landmarks and speech) and ``lipsync.syncnet`` (learnt
embedding distances) measure sync differently but report it the same way: the clip's raw score
(share of speech windows out of sync, half the undecided ones, or a clear whole-clip shift), an
expert-prior LLR, the same findings, a per-window series and the offset-curve and timeline
figures. Only a few messages differ; they are passed in. ``lipsync.syncnet`` (1.2.0) also passes
a ``signals.SyncNullTest``: its raw score is then the clip's sync against its own rolled soundtrack
(Φ of the z-score, or the whole-clip shift if larger), which needs no threshold learnt elsewhere.

A long video is analysed in passages (``tracking.passage_spans``); the passage whose sync is worst
gives the score and the findings, every passage's windows go into the series and the timeline,
and a ``passages`` finding lists each passage's offset and score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, MediaInput, SeriesPoint
from modalities.lipsync import plots, signals, tracking

LLR_SLOPE = 3.0  # expert prior: an all-out-of-sync clip ≈ +2, a clean in-sync one ≈ −1
LLR_CLAMP = (-1.0, 2.0)


@dataclass(frozen=True)
class PassageSync:
    """One passage's sync: where it lies, the speaker chosen among how many analysable tracks,
    the analysis (window frames counted from the passage's start), the null test when the detector
    makes one, and the detector's own findings about it."""

    passage: tracking.Passage
    track_id: int
    candidates: int
    analysis: signals.SyncAnalysis
    null_test: signals.SyncNullTest | None = None
    extra: tuple[Finding, ...] = ()

    def offset_s(self, time_s: float) -> float:
        """A time within the passage (from its start) on the video's clock."""
        return self.passage.start_s + time_s


def span_finding(
    media: MediaInput,
    passages: Sequence[tracking.Passage],
    limit_s: float,
    coverage: str = "spread",
) -> Finding:
    """How much of the video the detector looked at: the first ``limit_s`` seconds of a short
    video, or the passages of a long one; an analyst must not read "in sync" as a statement about
    the rest."""
    total = media.info.duration_s
    if len(passages) > 1 or not passages[0].whole:
        spans = [(p.start_s, min(p.start_s + limit_s, p.end_s)) for p in passages]
        analysed = sum(b - a for a, b in spans)  # passages never overlap
        listed = ", ".join(f"{a:.1f}–{b:.1f}" for a, b in spans)
        if len(spans) > 12:
            listed = f"{len(spans)} consecutive, {spans[0][0]:.1f}–{spans[-1][1]:.1f}"
        whole = total is not None and total > 0 and analysed >= total - 0.05
        message = (
            f"{len(spans)} passages ({listed} s), {analysed:.0f} s of "
            + (f"{total:.1f} s" if total else "a video of unknown length")
            + (" analysed, every second" if whole else " analysed; the rest was not looked at")
            + f" (coverage {coverage})"
        )
        return Finding(code="analysed_span_s", value=round(analysed, 2), message=message)
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


def worst_passage(results: Sequence[PassageSync], min_confidence: float) -> PassageSync:
    """The passage whose sync is worst (highest raw score; the earliest among equals): a dubbed
    or spliced passage is a local edit, and a mean over passages would dilute it."""
    scores = [clip_score(r.analysis, min_confidence, r.null_test)[0] for r in results]
    return results[int(np.argmax(scores))]


def passages_finding(results: Sequence[PassageSync], min_confidence: float) -> Finding:
    """Each analysed passage's offset, share out of sync and raw score (long videos)."""
    parts = []
    for r in results:
        raw = clip_score(r.analysis, min_confidence, r.null_test)[0]
        parts.append(
            f"{r.passage.start_s:.1f}–{r.passage.end_s:.1f} s: {r.analysis.offset_ms:+.0f} ms, "
            f"{r.analysis.share('out_of_sync'):.0%} out of sync, score {raw:.2f}"
        )
    return Finding(
        code="passages",
        value=len(results),
        message="passages with visible speech (the worst decides): " + "; ".join(parts),
    )


def sync_evidence(
    spec: DetectorSpec,
    results: Sequence[PassageSync],
    media: MediaInput,
    *,
    facts: Sequence[Finding],
    min_confidence: float,
    messages: dict[str, str],
    curve_label: str | None = None,
) -> Evidence:
    """Evidence for the passages' analyses (one per passage with visible speech), decided by the
    worst passage. ``messages`` holds the wording of ``speaker_track`` (with ``{n}``, the number
    of tracks analysed), ``av_offset_frames``, ``sync_confidence`` and ``undecided_share``; a
    passage's ``extra`` findings follow ``sync_confidence``; ``curve_label`` names the curve's y
    axis; a passage's ``null_test``, when given, sets its raw score (see the module docstring)."""
    worst = worst_passage(results, min_confidence)
    analysis, null_test = worst.analysis, worst.null_test
    raw, shifted = clip_score(analysis, min_confidence, null_test)
    llr = expert_llr(raw)
    out_share, undecided = analysis.share("out_of_sync"), analysis.share("undecided")
    speech_windows = analysis.speech_windows
    several = len(results) > 1
    findings = [
        *facts,
        *([passages_finding(results, min_confidence)] if several else []),
        Finding(
            code="speaker_track",
            value=worst.track_id,
            message=messages["speaker_track"].format(n=worst.candidates),
        ),
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
        *worst.extra,
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
    where = ""
    if several:
        span = f"{worst.passage.start_s:.1f}–{worst.passage.end_s:.1f} s"
        where = f"worst of {len(results)} passages, {span}: "
    summary = (
        f"{where}AV offset {analysis.offset_ms:+.0f} ms (confidence {analysis.confidence:.2f}); "
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
        SeriesPoint(
            start_s=r.offset_s(w.start / r.analysis.fps),
            end_s=r.offset_s(w.end / r.analysis.fps),
            score=w.shift_gain,
        )
        for r in results
        for w in r.analysis.speech_windows
    )
    title = f"{spec.name} {spec.version}"
    passage = f" (passage {worst.passage.start_s:.0f}–{worst.passage.end_s:.0f} s)"
    curve_title = title + (passage if several else "")
    curve_png = (
        plots.offset_curve_png(analysis, curve_title)
        if curve_label is None
        else plots.offset_curve_png(analysis, curve_title, ylabel=curve_label)
    )
    timeline = [(r.passage.start_s, r.analysis) for r in results]
    artifacts = [
        media.artifacts.put("offset_curve", curve_png, "image/png"),
        media.artifacts.put("sync_timeline", plots.timeline_png(timeline, title), "image/png"),
    ]
    if null_test is not None:
        null_figure = plots.null_png(null_test, curve_title)
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
